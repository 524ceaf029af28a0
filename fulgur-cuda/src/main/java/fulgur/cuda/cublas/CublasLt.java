package fulgur.cuda.cublas;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import fulgur.backend.NativeLibraries;
import fulgur.cuda.driver.CudaHome;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * FFM bindings to cuBLASLt (libcublasLt.so.13; override with FULGUR_LIBCUBLASLT). Opaque handles are
 * {@link MemorySegment}s; every call is checked and a failure names the call and the status name.
 */
public final class CublasLt {
    public static final String ENV = "FULGUR_LIBCUBLASLT";

    // cudaDataType
    public static final int CUDA_R_32F = 0, CUDA_R_64F = 1, CUDA_R_16F = 2, CUDA_R_16BF = 14;
    // cublasComputeType_t
    public static final int COMPUTE_32F = 68, COMPUTE_64F = 70, COMPUTE_32F_FAST_TF32 = 77;
    // cublasLtMatrixLayoutAttribute_t
    public static final int LAYOUT_BATCH_COUNT = 5, LAYOUT_STRIDED_BATCH_OFFSET = 6;
    // cublasLtMatmulPreferenceAttributes_t (alignments: uint32)
    public static final int PREF_MIN_ALIGNMENT_A_BYTES = 5,
            PREF_MIN_ALIGNMENT_B_BYTES = 6,
            PREF_MIN_ALIGNMENT_C_BYTES = 7,
            PREF_MIN_ALIGNMENT_D_BYTES = 8;
    // cublasOperation_t
    public static final int OP_N = 0, OP_T = 1;
    // cublasLtMatmulDescAttributes_t
    public static final int DESC_TRANSA = 3, DESC_TRANSB = 4;
    // cublasLtMatmulPreferenceAttributes_t
    public static final int PREF_MAX_WORKSPACE_BYTES = 1;
    /** sizeof(cublasLtMatmulHeuristicResult_t): algo (64) + workspaceSize (8) + state (4) + wavesCount (4) + reserved (16). */
    public static final long HEURISTIC_RESULT_BYTES = 96;

    private static volatile CublasLt instance;

    private final NativeLibraries.Library lib;
    private final MethodHandle create,
            destroy,
            getVersion,
            descCreate,
            descDestroy,
            descSetAttribute,
            layoutCreate,
            layoutDestroy,
            layoutSetAttribute,
            prefCreate,
            prefDestroy,
            prefSetAttribute,
            algoGetHeuristic,
            matmul;
    private final Optional<MethodHandle> statusName, statusString;

    private CublasLt(NativeLibraries.Library lib) {
        this.lib = lib;
        var I = JAVA_INT;
        var L = JAVA_LONG;
        var A = ADDRESS;
        create = lib.function(FunctionDescriptor.of(I, A), "cublasLtCreate");
        destroy = lib.function(FunctionDescriptor.of(I, A), "cublasLtDestroy");
        getVersion = lib.function(FunctionDescriptor.of(L), "cublasLtGetVersion");
        descCreate = lib.function(FunctionDescriptor.of(I, A, I, I), "cublasLtMatmulDescCreate");
        descDestroy = lib.function(FunctionDescriptor.of(I, A), "cublasLtMatmulDescDestroy");
        descSetAttribute = lib.function(FunctionDescriptor.of(I, A, I, A, L), "cublasLtMatmulDescSetAttribute");
        layoutCreate = lib.function(FunctionDescriptor.of(I, A, I, L, L, L), "cublasLtMatrixLayoutCreate");
        layoutDestroy = lib.function(FunctionDescriptor.of(I, A), "cublasLtMatrixLayoutDestroy");
        layoutSetAttribute = lib.function(FunctionDescriptor.of(I, A, I, A, L), "cublasLtMatrixLayoutSetAttribute");
        prefCreate = lib.function(FunctionDescriptor.of(I, A), "cublasLtMatmulPreferenceCreate");
        prefDestroy = lib.function(FunctionDescriptor.of(I, A), "cublasLtMatmulPreferenceDestroy");
        prefSetAttribute = lib.function(FunctionDescriptor.of(I, A, I, A, L), "cublasLtMatmulPreferenceSetAttribute");
        algoGetHeuristic =
                lib.function(FunctionDescriptor.of(I, A, A, A, A, A, A, A, I, A, A), "cublasLtMatmulAlgoGetHeuristic");
        matmul = lib.function(
                FunctionDescriptor.of(I, A, A, A, A, A, A, A, A, A, A, A, A, A, A, L, A), "cublasLtMatmul");
        statusName = lib.optionalFunction(FunctionDescriptor.of(A, I), "cublasLtGetStatusName");
        statusString = lib.optionalFunction(FunctionDescriptor.of(A, I), "cublasLtGetStatusString");
    }

    public static CublasLt get() {
        CublasLt c = instance;
        if (c == null) {
            synchronized (CublasLt.class) {
                c = instance;
                if (c == null) {
                    c = new CublasLt(NativeLibraries.load(
                            "cuBLASLt (libcublasLt)",
                            ENV,
                            CudaHome.libraryCandidates("libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so")));
                    instance = c;
                }
            }
        }
        return c;
    }

    public String libraryName() {
        return lib.name();
    }

    /** The status name as cuBLASLt spells it (or the enum name from its header when unavailable). */
    public String statusName(int status) {
        if (statusName.isPresent()) {
            try {
                MemorySegment p = (MemorySegment) statusName.get().invokeExact(status);
                if (!p.equals(MemorySegment.NULL)) return p.reinterpret(256).getString(0);
            } catch (Throwable ignored) {
                // fall through
            }
        }
        return switch (status) {
            case 0 -> "CUBLAS_STATUS_SUCCESS";
            case 1 -> "CUBLAS_STATUS_NOT_INITIALIZED";
            case 3 -> "CUBLAS_STATUS_ALLOC_FAILED";
            case 7 -> "CUBLAS_STATUS_INVALID_VALUE";
            case 8 -> "CUBLAS_STATUS_ARCH_MISMATCH";
            case 11 -> "CUBLAS_STATUS_MAPPING_ERROR";
            case 13 -> "CUBLAS_STATUS_EXECUTION_FAILED";
            case 14 -> "CUBLAS_STATUS_INTERNAL_ERROR";
            case 15 -> "CUBLAS_STATUS_NOT_SUPPORTED";
            case 16 -> "CUBLAS_STATUS_LICENSE_ERROR";
            default -> "CUBLAS_STATUS_" + status;
        };
    }

    private String statusText(int status) {
        if (statusString.isEmpty()) return "";
        try {
            MemorySegment p = (MemorySegment) statusString.get().invokeExact(status);
            return p.equals(MemorySegment.NULL) ? "" : p.reinterpret(512).getString(0);
        } catch (Throwable t) {
            return "";
        }
    }

    public void check(int status, String call) {
        if (status != 0) throw new CublasLtException(call, status, statusName(status), statusText(status));
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    public long version() {
        try {
            return (long) getVersion.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public MemorySegment create() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check((int) create.invokeExact(p), "cublasLtCreate");
            return p.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void destroy(MemorySegment handle) {
        try {
            check((int) destroy.invokeExact(handle), "cublasLtDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public MemorySegment matmulDescCreate(int computeType, int scaleType) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check((int) descCreate.invokeExact(p, computeType, scaleType), "cublasLtMatmulDescCreate");
            return p.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void matmulDescDestroy(MemorySegment desc) {
        try {
            check((int) descDestroy.invokeExact(desc), "cublasLtMatmulDescDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void matmulDescSetInt(MemorySegment desc, int attribute, int value) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocateFrom(JAVA_INT, value);
            check(
                    (int) descSetAttribute.invokeExact(desc, attribute, v, 4L),
                    "cublasLtMatmulDescSetAttribute(" + attribute + ")");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A column-major layout of {@code rows x cols} with leading dimension {@code ld}. */
    public MemorySegment matrixLayoutCreate(int type, long rows, long cols, long ld) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check(
                    (int) layoutCreate.invokeExact(p, type, rows, cols, ld),
                    "cublasLtMatrixLayoutCreate(" + rows + "x" + cols + ", ld " + ld + ")");
            return p.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Sets an int32 layout attribute (e.g. {@link #LAYOUT_BATCH_COUNT}). */
    public void matrixLayoutSetInt(MemorySegment layout, int attribute, int value) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocateFrom(JAVA_INT, value);
            check(
                    (int) layoutSetAttribute.invokeExact(layout, attribute, v, 4L),
                    "cublasLtMatrixLayoutSetAttribute(" + attribute + ")");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Sets an int64 layout attribute (e.g. {@link #LAYOUT_STRIDED_BATCH_OFFSET}). */
    public void matrixLayoutSetLong(MemorySegment layout, int attribute, long value) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocateFrom(JAVA_LONG, value);
            check(
                    (int) layoutSetAttribute.invokeExact(layout, attribute, v, 8L),
                    "cublasLtMatrixLayoutSetAttribute(" + attribute + ")");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Sets a uint32 preference attribute (the minimum alignments). */
    public void preferenceSetInt(MemorySegment pref, int attribute, int value) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocateFrom(JAVA_INT, value);
            check(
                    (int) prefSetAttribute.invokeExact(pref, attribute, v, 4L),
                    "cublasLtMatmulPreferenceSetAttribute(" + attribute + ")");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void matrixLayoutDestroy(MemorySegment layout) {
        try {
            check((int) layoutDestroy.invokeExact(layout), "cublasLtMatrixLayoutDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public MemorySegment preferenceCreate(long maxWorkspaceBytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check((int) prefCreate.invokeExact(p), "cublasLtMatmulPreferenceCreate");
            MemorySegment pref = p.get(ADDRESS, 0);
            MemorySegment v = a.allocateFrom(JAVA_LONG, maxWorkspaceBytes);
            check(
                    (int) prefSetAttribute.invokeExact(pref, PREF_MAX_WORKSPACE_BYTES, v, 8L),
                    "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)");
            return pref;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void preferenceDestroy(MemorySegment pref) {
        try {
            check((int) prefDestroy.invokeExact(pref), "cublasLtMatmulPreferenceDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Fills {@code results} (room for {@code requested} heuristic results) and returns how many came back.
     */
    public int algoGetHeuristic(
            MemorySegment handle,
            MemorySegment desc,
            MemorySegment a,
            MemorySegment b,
            MemorySegment c,
            MemorySegment d,
            MemorySegment pref,
            int requested,
            MemorySegment results) {
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment n = ar.allocate(JAVA_INT);
            check(
                    (int) algoGetHeuristic.invokeExact(handle, desc, a, b, c, d, pref, requested, results, n),
                    "cublasLtMatmulAlgoGetHeuristic");
            return n.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** cublasLtMatmul; alpha and beta are host pointers of the scale type. */
    public void matmul(
            MemorySegment handle,
            MemorySegment desc,
            MemorySegment alpha,
            long a,
            MemorySegment aDesc,
            long b,
            MemorySegment bDesc,
            MemorySegment beta,
            long c,
            MemorySegment cDesc,
            long d,
            MemorySegment dDesc,
            MemorySegment algo,
            long workspace,
            long workspaceBytes,
            MemorySegment stream) {
        int rc;
        try {
            rc = (int) matmul.invokeExact(
                    handle,
                    desc,
                    alpha,
                    MemorySegment.ofAddress(a),
                    aDesc,
                    MemorySegment.ofAddress(b),
                    bDesc,
                    beta,
                    MemorySegment.ofAddress(c),
                    cDesc,
                    MemorySegment.ofAddress(d),
                    dDesc,
                    algo,
                    MemorySegment.ofAddress(workspace),
                    workspaceBytes,
                    stream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check(rc, "cublasLtMatmul");
    }
}
