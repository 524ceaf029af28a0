package fulgur.cuda.cublas;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import fulgur.cuda.CudaContext;
import fulgur.cuda.CudaStream;
import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.DevicePointer;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/**
 * Row-major GEMM through cuBLASLt: {@code C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C}.
 * A 32 MiB workspace; the heuristic's first algorithm is cached per shape (descriptors, layouts and algo).
 */
public final class LtGemm implements AutoCloseable {
    public static final long WORKSPACE_BYTES = 32L << 20;

    /** Input/output types and the compute mode. */
    public enum Precision {
        /** bf16 A, B, C; f32 accumulate and scale. */
        BF16(CublasLt.CUDA_R_16BF, CublasLt.CUDA_R_16BF, CublasLt.COMPUTE_32F),
        /** bf16 A, B; f32 C. */
        BF16_F32OUT(CublasLt.CUDA_R_16BF, CublasLt.CUDA_R_32F, CublasLt.COMPUTE_32F),
        /** f32 everywhere. */
        F32(CublasLt.CUDA_R_32F, CublasLt.CUDA_R_32F, CublasLt.COMPUTE_32F),
        /** f32 data, tensor cores in tf32. */
        TF32(CublasLt.CUDA_R_32F, CublasLt.CUDA_R_32F, CublasLt.COMPUTE_32F_FAST_TF32);
        final int abType, cType, compute;

        Precision(int abType, int cType, int compute) {
            this.abType = abType;
            this.cType = cType;
            this.compute = compute;
        }
    }

    private record Key(Precision p, boolean ta, boolean tb, long m, long n, long k, long lda, long ldb, long ldc) {}

    private static final class Plan {
        MemorySegment desc, a, b, c, algo;
    }

    private final CudaContext ctx;
    private final CublasLt lt = CublasLt.get();
    private final MemorySegment handle;
    private final DeviceBuffer workspace;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment alphaBeta = arena.allocate(JAVA_FLOAT, 2);
    private final Map<Key, Plan> plans = new HashMap<>();
    private boolean closed;

    public LtGemm(CudaContext ctx) {
        this.ctx = ctx;
        ctx.bind();
        this.handle = lt.create();
        this.workspace = ctx.allocate(WORKSPACE_BYTES, CudaStream.DEFAULT);
    }

    /** Number of cached plans (shapes seen). */
    public synchronized int cachedPlans() {
        return plans.size();
    }

    /**
     * Row-major: A is [m,k] (or [k,m] when {@code transA}), B is [k,n] (or [n,k] when {@code transB}), C is [m,n];
     * leading dimensions are row strides in elements.
     */
    public synchronized void matmul(
            CudaStream stream,
            Precision p,
            boolean transA,
            boolean transB,
            long m,
            long n,
            long k,
            float alpha,
            DevicePointer A,
            long lda,
            DevicePointer B,
            long ldb,
            float beta,
            DevicePointer C,
            long ldc) {
        if (closed) throw new IllegalStateException("LtGemm is closed");
        if (m <= 0 || n <= 0 || k <= 0) throw new IllegalArgumentException("empty GEMM " + m + "x" + n + "x" + k);
        ctx.bind();
        Plan plan = plans.computeIfAbsent(new Key(p, transA, transB, m, n, k, lda, ldb, ldc), this::plan);
        alphaBeta.setAtIndex(JAVA_FLOAT, 0, alpha);
        alphaBeta.setAtIndex(JAVA_FLOAT, 1, beta);
        // column-major view: C^T[n,m] = op(B)^T[n,k] * op(A)^T[k,m]
        lt.matmul(
                handle,
                plan.desc,
                alphaBeta,
                B.address(),
                plan.a,
                A.address(),
                plan.b,
                alphaBeta.asSlice(4, 4),
                C.address(),
                plan.c,
                C.address(),
                plan.c,
                plan.algo,
                workspace.address(),
                WORKSPACE_BYTES,
                stream.handle());
    }

    private Plan plan(Key key) {
        Plan pl = new Plan();
        pl.desc = lt.matmulDescCreate(key.p.compute, CublasLt.CUDA_R_32F);
        lt.matmulDescSetInt(pl.desc, CublasLt.DESC_TRANSA, key.tb ? CublasLt.OP_T : CublasLt.OP_N);
        lt.matmulDescSetInt(pl.desc, CublasLt.DESC_TRANSB, key.ta ? CublasLt.OP_T : CublasLt.OP_N);
        // Lt "A" = our B: stored row-major [k,n] = col-major [n,k] (ld ldb); transposed: [n,k] row-major = col-major
        // [k,n]
        pl.a = key.tb
                ? lt.matrixLayoutCreate(key.p.abType, key.k, key.n, key.ldb)
                : lt.matrixLayoutCreate(key.p.abType, key.n, key.k, key.ldb);
        pl.b = key.ta
                ? lt.matrixLayoutCreate(key.p.abType, key.m, key.k, key.lda)
                : lt.matrixLayoutCreate(key.p.abType, key.k, key.m, key.lda);
        pl.c = lt.matrixLayoutCreate(key.p.cType, key.n, key.m, key.ldc);
        MemorySegment pref = lt.preferenceCreate(WORKSPACE_BYTES);
        try {
            MemorySegment results = arena.allocate(CublasLt.HEURISTIC_RESULT_BYTES, 8);
            int got = lt.algoGetHeuristic(handle, pl.desc, pl.a, pl.b, pl.c, pl.c, pref, 1, results);
            if (got < 1) {
                throw new CublasLtException(
                        "cublasLtMatmulAlgoGetHeuristic(" + key + ")", 15, "no algorithm for this shape", "");
            }
            pl.algo = results; // the algo is the first 64 bytes of the result
        } finally {
            lt.preferenceDestroy(pref);
        }
        return pl;
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        ctx.bind();
        for (Plan pl : plans.values()) {
            lt.matrixLayoutDestroy(pl.a);
            lt.matrixLayoutDestroy(pl.b);
            lt.matrixLayoutDestroy(pl.c);
            lt.matmulDescDestroy(pl.desc);
        }
        plans.clear();
        lt.destroy(handle);
        workspace.close();
        arena.close();
    }
}
