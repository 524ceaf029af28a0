package fulgur.backend.cpu;

import java.util.Locale;
import java.util.concurrent.atomic.LongAdder;

/**
 * With {@code -Dfulgur.gemm.trace=true}, where the threads of the packed f32 GEMM spend each packed chunk of a call
 * (operands larger than {@link GemmBlocking#packedFloats} are packed a chunk at a time): waiting for the pool to start
 * them, packing panels ({@link PackedPanels}), waiting for panels other threads are packing, and computing their
 * rectangles; summed until {@link #reset}. For finding what costs a thread its throughput when many share a machine;
 * off (and free) by default.
 */
public final class GemmTrace {
    private GemmTrace() {}

    /** Whether calls are traced. */
    public static final boolean ON = Boolean.getBoolean("fulgur.gemm.trace");

    private static final LongAdder CALLS = new LongAdder(),
            WALL = new LongAdder(),
            PARTS = new LongAdder(),
            START = new LongAdder(),
            PACK = new LongAdder(),
            WAIT = new LongAdder(),
            COMPUTE = new LongAdder();

    static void call(long wallNanos) {
        CALLS.increment();
        WALL.add(wallNanos);
    }

    static void part(long startNanos, long packNanos, long waitNanos, long computeNanos) {
        PARTS.increment();
        START.add(startNanos);
        PACK.add(packNanos);
        WAIT.add(waitNanos);
        COMPUTE.add(computeNanos);
    }

    /** Forgets the calls traced so far. */
    public static void reset() {
        for (LongAdder a : new LongAdder[] {CALLS, WALL, PARTS, START, PACK, WAIT, COMPUTE}) a.reset();
    }

    /** {@return the mean wall time of a chunk and, per thread and chunk, the mean of each phase, in milliseconds} */
    public static String summary() {
        long calls = Math.max(1, CALLS.sum()), parts = Math.max(1, PARTS.sum());
        return String.format(
                Locale.ROOT,
                "%d packed chunks, %.3f ms each; a thread of %.1f per chunk: started after %.3f ms, packed %.3f, waited %.3f,"
                        + " computed %.3f",
                CALLS.sum(),
                WALL.sum() / 1e6 / calls,
                (double) PARTS.sum() / calls,
                START.sum() / 1e6 / parts,
                PACK.sum() / 1e6 / parts,
                WAIT.sum() / 1e6 / parts,
                COMPUTE.sum() / 1e6 / parts);
    }
}
