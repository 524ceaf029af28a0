package fulgur.cuda.cublas;

import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import fulgur.cuda.CudaContext;
import fulgur.cuda.CudaEvent;
import fulgur.cuda.CudaStream;
import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.driver.CudaDriver;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/**
 * Strided-batched row-major GEMM through cuBLASLt for the CUDA backend:
 * {@code C_b[m,n] = op(A_b)[m,k] · op(B_b)[k,n]} for b &lt; batch, with element strides between batch entries (0
 * broadcasts an operand). Types: {@link Types}. Plans (descriptors, layouts, the heuristic's first algorithm) are
 * cached per shape, strides and pointer alignment; a 32 MiB workspace lives on the caller's stream. With
 * {@code -Dfulgur.cuda.gemm.autotune=N} (N ≥ 2) a shape's first product with beta = 0 outside a graph capture times
 * the heuristic's first N algorithms on its own operands (one warm-up and three timed runs each; C is overwritten) and
 * keeps the fastest.
 */
public final class BatchedGemm implements AutoCloseable {
    public static final long WORKSPACE_BYTES = 32L << 20;

    /** A, B element type; C element type; compute type; scale type. */
    public record Types(int ab, int c, int compute, int scale) {
        public static final Types F32 =
                new Types(CublasLt.CUDA_R_32F, CublasLt.CUDA_R_32F, CublasLt.COMPUTE_32F, CublasLt.CUDA_R_32F);
        public static final Types TF32 = new Types(
                CublasLt.CUDA_R_32F, CublasLt.CUDA_R_32F, CublasLt.COMPUTE_32F_FAST_TF32, CublasLt.CUDA_R_32F);
        public static final Types F64 =
                new Types(CublasLt.CUDA_R_64F, CublasLt.CUDA_R_64F, CublasLt.COMPUTE_64F, CublasLt.CUDA_R_64F);
        public static final Types BF16 =
                new Types(CublasLt.CUDA_R_16BF, CublasLt.CUDA_R_16BF, CublasLt.COMPUTE_32F, CublasLt.CUDA_R_32F);
        public static final Types BF16_F32 =
                new Types(CublasLt.CUDA_R_16BF, CublasLt.CUDA_R_32F, CublasLt.COMPUTE_32F, CublasLt.CUDA_R_32F);
        public static final Types F16 =
                new Types(CublasLt.CUDA_R_16F, CublasLt.CUDA_R_16F, CublasLt.COMPUTE_32F, CublasLt.CUDA_R_32F);
        public static final Types F16_F32 =
                new Types(CublasLt.CUDA_R_16F, CublasLt.CUDA_R_32F, CublasLt.COMPUTE_32F, CublasLt.CUDA_R_32F);
    }

    private record Key(
            Types t,
            boolean ta,
            boolean tb,
            long m,
            long n,
            long k,
            long lda,
            long ldb,
            long ldc,
            int batch,
            long sa,
            long sb,
            long sc,
            int alA,
            int alB,
            int alC) {}

    private static final class Plan {
        MemorySegment desc, a, b, c, algo;
        /** The heuristic's algorithms, best first (its first is {@code algo} until timed). */
        MemorySegment results;

        int found;
    }

    private static final boolean VERBOSE = Boolean.getBoolean("fulgur.cuda.verbose");

    private final CudaContext ctx;
    private final CublasLt lt = CublasLt.get();
    private final MemorySegment handle;
    private final DeviceBuffer workspace;
    private final CudaStream stream;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment scales = arena.allocate(32, 16);
    private final Map<Key, Plan> plans = new HashMap<>();
    private boolean closed;
    /** Algorithms timed per new shape (below 2: the heuristic's first, untimed). */
    private final int autotune;

    public BatchedGemm(CudaContext ctx, CudaStream stream) {
        this(ctx, stream, Integer.getInteger("fulgur.cuda.gemm.autotune", 0));
    }

    /** With {@code autotune} algorithms timed per new shape (below 2: the heuristic's first). */
    public BatchedGemm(CudaContext ctx, CudaStream stream, int autotune) {
        this.autotune = autotune;
        this.ctx = ctx;
        this.stream = stream;
        ctx.bind();
        this.handle = lt.create();
        this.workspace = ctx.allocate(WORKSPACE_BYTES, stream);
    }

    public synchronized int cachedPlans() {
        return plans.size();
    }

    static int alignment(long address) {
        long a = Long.lowestOneBit(address | 256);
        return (int) Math.min(a, 256);
    }

    /**
     * Row-major operands: A is [m,k] ([k,m] when transA) with row stride lda, B [k,n] ([n,k] when transB) with row
     * stride ldb, C [m,n] with row stride ldc; sa, sb, sc are element strides between batch entries.
     */
    public synchronized void matmul(
            Types t,
            boolean transA,
            boolean transB,
            long m,
            long n,
            long k,
            long a,
            long lda,
            long sa,
            long b,
            long ldb,
            long sb,
            long c,
            long ldc,
            long sc,
            int batch) {
        matmul(t, transA, transB, m, n, k, a, lda, sa, b, ldb, sb, c, ldc, sc, batch, 0, c);
    }

    /**
     * As the other {@code matmul}, with C ← op(A)·op(B) + beta·S where S is the matrix at {@code source} (laid out as
     * C; {@code source == c} accumulates into C); beta 0 ignores S.
     */
    public synchronized void matmul(
            Types t,
            boolean transA,
            boolean transB,
            long m,
            long n,
            long k,
            long a,
            long lda,
            long sa,
            long b,
            long ldb,
            long sb,
            long c,
            long ldc,
            long sc,
            int batch,
            double betaValue,
            long source) {
        if (closed) throw new IllegalStateException("BatchedGemm is closed");
        ctx.bind();
        Key key = new Key(
                t, transA, transB, m, n, k, lda, ldb, ldc, batch, sa, sb, sc, alignment(a), alignment(b), alignment(c));
        Plan plan = plans.get(key);
        boolean fresh = plan == null;
        if (fresh) {
            plan = plan(key);
            plans.put(key, plan);
        }
        if (fresh && autotune >= 2 && betaValue == 0 && !CudaDriver.get().streamIsCapturing(stream.handle())) {
            tune(plan, key, a, b, c);
        }
        setScales(t, betaValue);
        Object mark = fulgur.cuda.KernelProfiler.enabled() ? fulgur.cuda.KernelProfiler.begin(stream) : null;
        run(plan, plan.algo, a, b, source, c);
        if (mark != null)
            fulgur.cuda.KernelProfiler.end(mark, "cublasLt " + typeName(t) + (batch > 1 ? " batched" : ""), stream);
    }

    private void setScales(Types t, double betaValue) {
        MemorySegment alpha = scales.asSlice(0, 8);
        MemorySegment beta = scales.asSlice(16, 8);
        if (t.scale() == CublasLt.CUDA_R_64F) {
            alpha.set(JAVA_DOUBLE, 0, 1.0);
            beta.set(JAVA_DOUBLE, 0, betaValue);
        } else {
            alpha.set(JAVA_FLOAT, 0, 1f);
            beta.set(JAVA_FLOAT, 0, (float) betaValue);
        }
    }

    /** One product with {@code algo} and the scales as set: D = c, C = source. */
    private void run(Plan plan, MemorySegment algo, long a, long b, long source, long c) {
        // column-major view: C^T[n,m] = op(B)^T[n,k] · op(A)^T[k,m]
        lt.matmul(
                handle,
                plan.desc,
                scales.asSlice(0, 8),
                b,
                plan.a,
                a,
                plan.b,
                scales.asSlice(16, 8),
                source,
                plan.c,
                c,
                plan.c,
                algo,
                workspace.address(),
                WORKSPACE_BYTES,
                stream.handle());
    }

    /** Times the plan's algorithms on these operands (C is overwritten) and keeps the fastest. */
    private void tune(Plan plan, Key key, long a, long b, long c) {
        setScales(key.t, 0);
        float best = Float.MAX_VALUE;
        int bestAt = 0;
        try (CudaEvent start = CudaEvent.create();
                CudaEvent end = CudaEvent.create()) {
            for (int i = 0; i < plan.found; i++) {
                MemorySegment algo =
                        plan.results.asSlice(i * CublasLt.HEURISTIC_RESULT_BYTES, CublasLt.HEURISTIC_RESULT_BYTES);
                try {
                    run(plan, algo, a, b, c, c);
                } catch (RuntimeException e) {
                    continue; // an algorithm this problem turns down: keep the others
                }
                start.record(stream);
                for (int r = 0; r < 3; r++) run(plan, algo, a, b, c, c);
                end.record(stream).synchronize();
                float ms = end.elapsedSince(start) / 3;
                if (ms < best) {
                    best = ms;
                    bestAt = i;
                    plan.algo = algo;
                }
            }
        }
        if (VERBOSE) {
            System.err.printf(
                    java.util.Locale.ROOT,
                    "cuBLASLt m=%d n=%d k=%d batch=%d: algorithm %d of %d, %.4f ms%n",
                    key.m,
                    key.n,
                    key.k,
                    key.batch,
                    bestAt,
                    plan.found,
                    best);
        }
    }

    private static String typeName(Types t) {
        if (t.equals(Types.BF16)) return "bf16";
        if (t.equals(Types.BF16_F32)) return "bf16->f32";
        if (t.equals(Types.TF32)) return "tf32";
        if (t.equals(Types.F32)) return "f32";
        if (t.equals(Types.F64)) return "f64";
        return "f16";
    }

    private Plan plan(Key key) {
        Plan pl = new Plan();
        pl.desc = lt.matmulDescCreate(key.t.compute(), key.t.scale());
        lt.matmulDescSetInt(pl.desc, CublasLt.DESC_TRANSA, key.tb ? CublasLt.OP_T : CublasLt.OP_N);
        lt.matmulDescSetInt(pl.desc, CublasLt.DESC_TRANSB, key.ta ? CublasLt.OP_T : CublasLt.OP_N);
        pl.a = key.tb
                ? lt.matrixLayoutCreate(key.t.ab(), key.k, key.n, key.ldb)
                : lt.matrixLayoutCreate(key.t.ab(), key.n, key.k, key.ldb);
        pl.b = key.ta
                ? lt.matrixLayoutCreate(key.t.ab(), key.m, key.k, key.lda)
                : lt.matrixLayoutCreate(key.t.ab(), key.k, key.m, key.lda);
        pl.c = lt.matrixLayoutCreate(key.t.c(), key.n, key.m, key.ldc);
        if (key.batch > 1) {
            for (MemorySegment l : new MemorySegment[] {pl.a, pl.b, pl.c})
                lt.matrixLayoutSetInt(l, CublasLt.LAYOUT_BATCH_COUNT, key.batch);
            lt.matrixLayoutSetLong(pl.a, CublasLt.LAYOUT_STRIDED_BATCH_OFFSET, key.sb);
            lt.matrixLayoutSetLong(pl.b, CublasLt.LAYOUT_STRIDED_BATCH_OFFSET, key.sa);
            lt.matrixLayoutSetLong(pl.c, CublasLt.LAYOUT_STRIDED_BATCH_OFFSET, key.sc);
        }
        MemorySegment pref = lt.preferenceCreate(WORKSPACE_BYTES);
        try {
            lt.preferenceSetInt(pref, CublasLt.PREF_MIN_ALIGNMENT_A_BYTES, key.alB);
            lt.preferenceSetInt(pref, CublasLt.PREF_MIN_ALIGNMENT_B_BYTES, key.alA);
            lt.preferenceSetInt(pref, CublasLt.PREF_MIN_ALIGNMENT_C_BYTES, key.alC);
            lt.preferenceSetInt(pref, CublasLt.PREF_MIN_ALIGNMENT_D_BYTES, key.alC);
            int wanted = Math.max(1, autotune);
            MemorySegment results = arena.allocate(CublasLt.HEURISTIC_RESULT_BYTES * wanted, 8);
            int got = lt.algoGetHeuristic(handle, pl.desc, pl.a, pl.b, pl.c, pl.c, pref, wanted, results);
            if (got < 1) {
                destroy(pl);
                throw new CublasLtException(
                        "cublasLtMatmulAlgoGetHeuristic(" + key + ")", 15, "no algorithm for this shape", "");
            }
            pl.algo = results.asSlice(0, CublasLt.HEURISTIC_RESULT_BYTES);
            pl.results = results;
            pl.found = got;
        } catch (RuntimeException e) {
            if (pl.algo == null && pl.desc != null) {
                try {
                    destroy(pl);
                } catch (RuntimeException ignored) {
                    /* already destroyed */
                }
            }
            throw e;
        } finally {
            lt.preferenceDestroy(pref);
        }
        return pl;
    }

    private void destroy(Plan pl) {
        if (pl.a != null) lt.matrixLayoutDestroy(pl.a);
        if (pl.b != null) lt.matrixLayoutDestroy(pl.b);
        if (pl.c != null) lt.matrixLayoutDestroy(pl.c);
        if (pl.desc != null) lt.matmulDescDestroy(pl.desc);
        pl.a = pl.b = pl.c = pl.desc = null;
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        ctx.bind();
        for (Plan pl : plans.values()) destroy(pl);
        plans.clear();
        lt.destroy(handle);
        workspace.close();
        arena.close();
    }
}
