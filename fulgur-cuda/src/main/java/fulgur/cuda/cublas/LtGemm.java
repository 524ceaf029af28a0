package fulgur.cuda.cublas;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import fulgur.cuda.CudaContext;
import fulgur.cuda.CudaEvent;
import fulgur.cuda.CudaStream;
import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.DevicePointer;
import fulgur.cuda.driver.CudaDriver;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/**
 * Row-major GEMM through cuBLASLt: {@code C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C}.
 * A 32 MiB workspace; the heuristic's first algorithm is cached per shape (descriptors, layouts and algo). With
 * {@code -Dfulgur.cuda.gemm.autotune=N} (N ≥ 2) a shape's first product with beta = 0 outside a graph capture times
 * the heuristic's first N algorithms on its own operands (one warm-up and three timed runs each) and keeps the fastest.
 */
public final class LtGemm implements AutoCloseable {
    public static final long WORKSPACE_BYTES = 32L << 20;
    private static final boolean VERBOSE = Boolean.getBoolean("fulgur.cuda.verbose");

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
    /** Algorithms timed per new shape (below 2: the heuristic's first). */
    private final int autotune;

    private boolean closed;

    public LtGemm(CudaContext ctx) {
        this(ctx, Integer.getInteger("fulgur.cuda.gemm.autotune", 0));
    }

    /** With {@code autotune} algorithms timed per new shape (below 2: the heuristic's first, untimed). */
    public LtGemm(CudaContext ctx, int autotune) {
        this.ctx = ctx;
        this.autotune = autotune;
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
        Key key = new Key(p, transA, transB, m, n, k, lda, ldb, ldc);
        Plan plan = plans.get(key);
        if (plan == null) {
            plan = plan(key);
            plans.put(key, plan);
            if (autotune >= 2 && beta == 0 && !CudaDriver.get().streamIsCapturing(stream.handle())) {
                tune(plan, key, stream, alpha, A, B, C);
            }
        }
        alphaBeta.setAtIndex(JAVA_FLOAT, 0, alpha);
        alphaBeta.setAtIndex(JAVA_FLOAT, 1, beta);
        run(plan, plan.algo, stream, A, B, C);
    }

    /** One product with {@code algo}, alpha and beta as set in alphaBeta. */
    private void run(
            Plan plan, MemorySegment algo, CudaStream stream, DevicePointer A, DevicePointer B, DevicePointer C) {
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
                algo,
                workspace.address(),
                WORKSPACE_BYTES,
                stream.handle());
    }

    /** Times the heuristic's first {@link #autotune} algorithms on these operands (C is overwritten) and keeps the fastest. */
    private void tune(
            Plan plan, Key key, CudaStream stream, float alpha, DevicePointer A, DevicePointer B, DevicePointer C) {
        MemorySegment results = arena.allocate(CublasLt.HEURISTIC_RESULT_BYTES * autotune, 8);
        MemorySegment pref = lt.preferenceCreate(WORKSPACE_BYTES);
        int got;
        try {
            got = lt.algoGetHeuristic(handle, plan.desc, plan.a, plan.b, plan.c, plan.c, pref, autotune, results);
        } finally {
            lt.preferenceDestroy(pref);
        }
        alphaBeta.setAtIndex(JAVA_FLOAT, 0, alpha);
        alphaBeta.setAtIndex(JAVA_FLOAT, 1, 0f);
        float best = Float.MAX_VALUE;
        try (CudaEvent start = CudaEvent.create();
                CudaEvent end = CudaEvent.create()) {
            for (int i = 0; i < got; i++) {
                MemorySegment algo =
                        results.asSlice(i * CublasLt.HEURISTIC_RESULT_BYTES, CublasLt.HEURISTIC_RESULT_BYTES);
                run(plan, algo, stream, A, B, C);
                start.record(stream);
                for (int r = 0; r < 3; r++) run(plan, algo, stream, A, B, C);
                end.record(stream).synchronize();
                float ms = end.elapsedSince(start);
                if (ms < best) {
                    best = ms;
                    plan.algo = algo;
                }
            }
        }
        if (VERBOSE) {
            System.err.printf(
                    java.util.Locale.ROOT, "cuBLASLt %s: fastest of %d algorithms %.4f ms%n", key, got, best / 3);
        }
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
