package fulgur.backend.cpu;

/**
 * The one shared worker pool of the CPU backend. Every kernel that spreads work over cores goes through
 * {@link #forRange}: the range is cut into contiguous chunks that the caller and the workers claim one at a time.
 * A call made from inside a worker runs serially, so nested kernels never deadlock the pool.
 * The thread count comes from {@code FULGUR_THREADS} (or the system property {@code fulgur.threads}),
 * else the number of available processors. The workers ({@code WorkerPool}, daemon threads named {@code fulgur-cpu-N})
 * stay awake for {@code fulgur.pool.spinMicros} (default 50; 0 parks at once) after each chunk they run, so the short
 * kernels of a decoding step do not each pay for waking threads; an idle JVM's workers are parked.
 */
public final class Parallel {

    /** Body of a parallel loop: processes indices {@code [start, end)}. */
    @FunctionalInterface
    public interface RangeTask {
        void run(int start, int end);
    }

    private static final int THREADS = configuredThreads();
    /** Whether kernels called on this thread run serially: a worker, a caller running its chunks, {@link #serial}. */
    static final ThreadLocal<Boolean> IN_WORKER = ThreadLocal.withInitial(() -> false);

    private static final WorkerPool POOL =
            THREADS > 1 ? new WorkerPool(THREADS - 1, spinMicros() * 1000, "fulgur-cpu-") : null;

    private Parallel() {}

    /**
     * Runs {@code body} with every kernel it calls on this thread running serially on this thread, for callers that
     * are themselves one of several parallel workers (e.g. the ranks of fulgur-dist's local backend when there are at
     * least as many ranks as cores), where handing chunks to the shared pool only adds waiting.
     */
    public static <T> T serial(java.util.function.Supplier<T> body) {
        boolean was = IN_WORKER.get();
        IN_WORKER.set(true);
        try {
            return body.get();
        } finally {
            IN_WORKER.set(was);
        }
    }

    /** Number of threads kernels use (the caller plus the pool's workers). */
    public static int threads() {
        return THREADS;
    }

    /**
     * Runs {@code task} over {@code [0, count)} in at most {@link #threads()} chunks, each at least {@code grain}
     * indices long. Returns when all chunks are done; rethrows the first failure. An interrupt does not cut the wait
     * short (the chunks still use the caller's data); the interrupt status is kept.
     *
     * <p>Chunks are claimed, not assigned: the pool's workers are woken for them, and the caller, once done with the
     * first, takes whichever no worker has started yet. On a machine busy with other work a woken worker may not run
     * for milliseconds; the caller then does its chunk as well instead of waiting for it (a decoding step makes dozens
     * of such calls). Each chunk is the same range whoever runs it, so results do not depend on the scheduling.
     */
    public static void forRange(int count, int grain, RangeTask task) {
        if (count <= 0) {
            return;
        }
        forChunks(count, Math.min(THREADS, Math.max(1, count / Math.max(1, grain))), task);
    }

    /**
     * Runs {@code task} over {@code [0, count)} cut into {@code chunks} contiguous chunks (at most {@code count}),
     * claimed one at a time by the caller and up to {@link #threads()} − 1 workers, as {@link #forRange} does. More
     * chunks than threads let a worker that the scheduler runs late still take its share of what is left, where one
     * chunk per thread would leave it all to the caller. The chunks are the same whoever runs them.
     */
    public static void forChunks(int count, int chunks, RangeTask task) {
        if (count <= 0) {
            return;
        }
        chunks = Math.max(1, Math.min(chunks, count));
        if (chunks == 1 || POOL == null || IN_WORKER.get()) {
            task.run(0, count);
            return;
        }
        POOL.run(count, chunks, task);
    }

    private static int configuredThreads() {
        String v = System.getProperty("fulgur.threads", System.getenv("FULGUR_THREADS"));
        return (int)
                setting(v, Runtime.getRuntime().availableProcessors(), 1, "FULGUR_THREADS must be a positive integer");
    }

    /** {@code fulgur.pool.spinMicros}: how long an idle worker, or a caller waiting for one, spins before it parks. */
    private static long spinMicros() {
        String v = System.getProperty("fulgur.pool.spinMicros");
        return setting(v, 50, 0, "fulgur.pool.spinMicros must be a non-negative integer");
    }

    /** {@code v} as an int of at least {@code least}, {@code fallback} when unset; anything else is refused. */
    private static long setting(String v, long fallback, int least, String expected) {
        if (v == null || v.isBlank()) {
            return fallback;
        }
        try {
            int n = Integer.parseInt(v.trim());
            if (n >= least) {
                return n;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new IllegalArgumentException(expected + ", got '" + v + "'");
    }
}
