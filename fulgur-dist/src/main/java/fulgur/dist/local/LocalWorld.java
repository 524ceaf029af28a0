package fulgur.dist.local;

import fulgur.backend.cpu.Parallel;
import fulgur.dist.DistException;
import fulgur.dist.DistTimeoutException;
import fulgur.dist.ProcessGroup;
import fulgur.dist.RankFailedException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The {@code local} backend: N ranks as threads of one JVM, communicating through shared memory. Collectives are
 * matched by their position in each rank's sequence of calls on a group; once every rank has arrived, one
 * communication thread moves the data (reductions in rank order, so results are deterministic) while the ranks go
 * on computing until they wait. A rank that fails (see {@link #run}) or finishes early makes the others' waits fail
 * at once with {@link RankFailedException}; a rank that is merely late makes them fail after the timeout with
 * {@link DistTimeoutException}, naming the ranks that did not arrive. With at least as many ranks as CPU threads,
 * each rank runs its kernels serially on its own thread ({@link Parallel#serial}).
 */
public final class LocalWorld implements AutoCloseable {
    /** Default for how long one wait may last. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(5);

    private static final long POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    private final int size;
    private final Duration timeout;
    private final Link link;
    private final ExecutorService comm;
    private final AtomicReference<Failure> failure = new AtomicReference<>();
    private final AtomicIntegerArray exited;
    private final ConcurrentHashMap<String, GroupState> groups = new ConcurrentHashMap<>();
    private final GroupState world;

    private record Failure(int rank, Throwable cause) {}

    /**
     * A world of {@code size} ranks without a simulated link.
     *
     * @param size the ranks, ≥ 1
     * @param timeout how long one wait may last, &gt; 0
     * @throws fulgur.dist.DistException for a size below 1 or a timeout that is not positive
     */
    public LocalWorld(int size, Duration timeout) {
        this(size, timeout, Link.NONE);
    }

    /**
     * A world whose communication takes at least {@code latency} per operation (a message arrives, a collective's
     * result is readable, that long after it could have been): simulates a link, for benchmarks.
     *
     * @param size the ranks, ≥ 1
     * @param timeout how long one wait may last, &gt; 0
     * @param latency the added latency per operation
     * @throws fulgur.dist.DistException for a size below 1 or a timeout that is not positive
     */
    public LocalWorld(int size, Duration timeout, Duration latency) {
        this(size, timeout, new Link(latency, 0));
    }

    /**
     * A world whose communication goes over a simulated {@link Link} of some latency and bandwidth, for benchmarks.
     *
     * @param size the ranks, ≥ 1
     * @param timeout how long one wait may last, &gt; 0
     * @param link the simulated link
     * @throws fulgur.dist.DistException for a size below 1 or a timeout that is not positive
     */
    public LocalWorld(int size, Duration timeout, Link link) {
        if (size < 1) {
            throw new DistException("local world: size must be >= 1, got " + size);
        }
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new DistException("local world: timeout must be positive, got " + timeout);
        }
        this.size = size;
        this.timeout = timeout;
        this.link = java.util.Objects.requireNonNull(link, "link");
        this.exited = new AtomicIntegerArray(size);
        this.comm = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "fulgur-local-comm");
            t.setDaemon(true);
            return t;
        });
        int[] all = new int[size];
        for (int i = 0; i < size; i++) {
            all[i] = i;
        }
        this.world = new GroupState(this, "world", "world", all);
        groups.put(world.id, world);
    }

    /**
     * A world of {@code size} ranks with the default timeout.
     *
     * @param size the ranks, ≥ 1
     * @throws fulgur.dist.DistException for a size below 1
     */
    public LocalWorld(int size) {
        this(size, DEFAULT_TIMEOUT);
    }

    /** {@return the number of ranks} */
    public int size() {
        return size;
    }

    /** {@return how long one wait may last} */
    public Duration timeout() {
        return timeout;
    }

    /**
     * The world group as seen by {@code rank}; call it from that rank's thread and use it there.
     *
     * @param rank the rank
     * @return its world group
     * @throws fulgur.dist.DistException when the rank does not exist
     */
    public ProcessGroup group(int rank) {
        if (rank < 0 || rank >= size) {
            throw new DistException("local world of size " + size + ": rank " + rank + " does not exist");
        }
        return new LocalProcessGroup(world, rank);
    }

    /**
     * Runs {@code body} on {@code size} threads, one per rank, each with its world group, and returns their results
     * by rank. If a rank throws, the others' pending and later communication fails at once, and this method throws a
     * {@link DistException} naming the first rank that failed, with its error as the cause.
     *
     * @param <T> what each rank returns
     * @param size the ranks, ≥ 1
     * @param timeout how long one wait may last
     * @param body each rank's work, given its world group
     * @return the results, by rank
     * @throws fulgur.dist.DistException when a rank fails, naming it
     */
    public static <T> List<T> run(int size, Duration timeout, Function<ProcessGroup, T> body) {
        try (LocalWorld w = new LocalWorld(size, timeout)) {
            return w.runAll(body);
        }
    }

    /** {@return the simulated link} */
    public Link link() {
        return link;
    }

    /** Waits until {@code readyAt} (System.nanoTime) when a simulated latency is set. */
    static void sleepUntil(long readyAt) {
        long left;
        while ((left = readyAt - System.nanoTime()) > 0) {
            java.util.concurrent.locks.LockSupport.parkNanos(left);
        }
    }

    /**
     * {@link #run(int, Duration, Function)} on this world.
     *
     * @param <T> what each rank returns
     * @param body each rank's work, given its world group
     * @return the results, by rank
     * @throws fulgur.dist.DistException when a rank fails or the wait is interrupted
     */
    public <T> List<T> runAll(Function<ProcessGroup, T> body) {
        List<Thread> threads = new ArrayList<>();
        Object[] results = new Object[size];
        for (int r = 0; r < size; r++) {
            int rank = r;
            Thread t = new Thread(
                    () -> {
                        try {
                            // with at least as many ranks as cores the ranks are the parallelism: kernels run on the
                            // rank's own
                            // thread instead of queueing chunks on the shared pool behind the other ranks' work
                            ProcessGroup g = group(rank);
                            results[rank] =
                                    size >= Parallel.threads() ? Parallel.serial(() -> body.apply(g)) : body.apply(g);
                        } catch (Throwable e) {
                            abort(rank, e);
                        } finally {
                            exited.set(rank, 1);
                        }
                    },
                    "fulgur-rank-" + r);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                abort(-1, e);
                throw new DistException("interrupted while waiting for the local ranks", e);
            }
        }
        Failure f = failure.get();
        if (f != null) {
            throw new DistException("rank " + f.rank + " of " + size + " failed: " + describe(f.cause), f.cause);
        }
        @SuppressWarnings("unchecked")
        List<T> out = (List<T>) java.util.Arrays.asList(results);
        return out;
    }

    /**
     * Marks the job failed because of {@code rank}: every pending and later wait of the other ranks fails.
     *
     * @param rank the rank that failed
     * @param cause its error
     */
    public void abort(int rank, Throwable cause) {
        failure.compareAndSet(null, new Failure(rank, cause));
    }

    /** Marks {@code rank} as gone: waits that need it fail at once. */
    void markExited(int rank) {
        exited.set(rank, 1);
    }

    boolean hasExited(int rank) {
        return exited.get(rank) == 1;
    }

    GroupState groupState(String id, String name, int[] members) {
        return groups.computeIfAbsent(id, k -> new GroupState(this, id, name, members));
    }

    void execute(Runnable task) {
        comm.execute(task);
    }

    /** Throws if another rank failed. {@code rank} is the waiting (world) rank. */
    void checkFailure(int rank, String what) {
        Failure f = failure.get();
        if (f != null && f.rank != rank) {
            throw new RankFailedException(
                    f.rank, what + ": rank " + f.rank + " failed (" + describe(f.cause) + ")", f.cause);
        }
    }

    /**
     * Waits for {@code latch}, polling for failures of other ranks; {@code missing} lists the (world) ranks still
     * needed, for the error messages.
     */
    void await(CountDownLatch latch, int rank, String what, Supplier<int[]> missing) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                long left = deadline - System.nanoTime();
                if (latch.await(Math.min(POLL_NANOS, Math.max(left, 1)), TimeUnit.NANOSECONDS)) {
                    return;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new DistException(what + ": interrupted", e);
            }
            checkFailure(rank, what);
            int[] m = missing.get();
            for (int r : m) {
                if (hasExited(r)) {
                    throw new RankFailedException(r, what + ": rank " + r + " finished without taking part", null);
                }
            }
            if (System.nanoTime() - deadline >= 0) {
                throw new DistTimeoutException(what + ": timed out after " + format(timeout) + " waiting for rank(s) "
                        + java.util.Arrays.toString(m) + " (world ranks)");
            }
        }
    }

    static String format(Duration d) {
        long ms = d.toMillis();
        return ms % 1000 == 0 ? ms / 1000 + " s" : ms + " ms";
    }

    static String describe(Throwable t) {
        String m = t.getMessage();
        return t.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }

    @Override
    public void close() {
        comm.shutdownNow();
    }
}
