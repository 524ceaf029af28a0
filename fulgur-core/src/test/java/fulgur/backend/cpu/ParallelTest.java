package fulgur.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The worker pool under {@link Parallel}: the shared one, and pools of a given size and spin time made here (0 workers
 * is how a one-thread JVM runs; spin 0 parks a worker as soon as it is idle, so every call goes through park and
 * unpark).
 */
class ParallelTest {

    private static final Duration LIMIT = Duration.ofSeconds(60);

    /** Either the shared pool ({@code workers < 0}) or a fresh one, called as {@link Parallel#forChunks} calls it. */
    private record Pool(WorkerPool pool, String prefix) implements AutoCloseable {
        private static final java.util.concurrent.atomic.AtomicInteger MADE =
                new java.util.concurrent.atomic.AtomicInteger();

        static Pool of(int workers, long spinMicros) {
            String prefix = "test-pool-" + MADE.incrementAndGet() + "-";
            return new Pool(workers < 0 ? null : new WorkerPool(workers, spinMicros * 1000, prefix), prefix);
        }

        /** The chunks a call is cut into: a one-thread JVM runs the whole range in one. */
        int chunksFor(int count, int chunks) {
            return pool == null && Parallel.threads() == 1 ? 1 : Math.max(1, Math.min(chunks, count));
        }

        void forChunks(int count, int chunks, Parallel.RangeTask task) {
            int n = Math.max(1, Math.min(chunks, count));
            if (pool == null) {
                Parallel.forChunks(count, chunks, task);
            } else if (count > 0 && n == 1) {
                task.run(0, count);
            } else if (count > 0) {
                pool.run(count, n, task);
            }
        }

        @Override
        public void close() {
            if (pool != null) {
                pool.close();
            }
        }
    }

    @ParameterizedTest(name = "workers {0}, spin {1} µs")
    @CsvSource({"-1, 0", "0, 50", "1, 0", "3, 0", "3, 50", "5, 1000"})
    void everyIndexRunsOnceInTheFormulasChunks(int workers, long spinMicros) {
        try (Pool pool = Pool.of(workers, spinMicros)) {
            SplittableRandom r = new SplittableRandom(workers + 7 * spinMicros);
            for (int call = 0; call < 3000; call++) {
                int count = r.nextInt(4) == 0 ? r.nextInt(6) : 1 + r.nextInt(5000);
                int chunks = 1 + r.nextInt(3 * Math.max(Parallel.threads(), workers + 1) + 2);
                AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(1, count));
                Set<Long> bounds = ConcurrentHashMap.newKeySet();
                pool.forChunks(count, chunks, (s, e) -> {
                    bounds.add((long) s << 32 | e);
                    for (int i = s; i < e; i++) {
                        hits.incrementAndGet(i);
                    }
                });
                int n = pool.chunksFor(count, chunks);
                Set<Long> expected = new HashSet<>();
                for (int c = 0; c < n && count > 0; c++) {
                    expected.add((long) (count * c / n) << 32 | (count * (c + 1) / n));
                }
                assertThat(bounds).as("%d indices in %d chunks", count, chunks).isEqualTo(expected);
                for (int i = 0; i < count; i++) {
                    assertThat(hits.get(i)).as("index %d of %d", i, count).isEqualTo(1);
                }
            }
        }
    }

    @ParameterizedTest(name = "workers {0}, spin {1} µs")
    @CsvSource({"-1, 0", "0, 0", "1, 0", "3, 50"})
    void theFirstFailureIsRethrownAndThePoolWorksAfter(int workers, long spinMicros) {
        try (Pool pool = Pool.of(workers, spinMicros)) {
            SplittableRandom r = new SplittableRandom(3);
            for (int call = 0; call < 200; call++) {
                int chunks = 2 + r.nextInt(8);
                int failing = r.nextInt(chunks);
                RuntimeException boom = new IllegalArgumentException("chunk " + failing);
                AtomicIntegerArray hits = new AtomicIntegerArray(chunks);
                assertThatThrownBy(() -> pool.forChunks(chunks, chunks, (s, e) -> {
                            for (int i = s; i < e; i++) {
                                hits.incrementAndGet(i);
                            }
                            if (s <= failing && failing < e) {
                                throw boom;
                            }
                        }))
                        .isSameAs(boom);
                // the other chunks still ran: a failure does not leave a chunk claimed and never finished
                for (int i = 0; i < chunks; i++) {
                    assertThat(hits.get(i)).as("index %d of %d", i, chunks).isEqualTo(1);
                }
            }
            AssertionError error = new AssertionError("an error");
            assertThatThrownBy(() -> pool.forChunks(4, 4, (s, e) -> {
                        if (e == 4) {
                            throw error;
                        }
                    }))
                    .isSameAs(error);
            Exception checked = new java.io.IOException("checked");
            Parallel.RangeTask sneaky = (s, e) -> {
                if (s <= 1 && 1 < e) {
                    ParallelTest.<RuntimeException>sneakyThrow(checked);
                }
            };
            if (pool.chunksFor(4, 4) == 1) {
                assertThatThrownBy(() -> pool.forChunks(4, 4, sneaky)).isSameAs(checked); // run in place
            } else {
                assertThatThrownBy(() -> pool.forChunks(4, 4, sneaky))
                        .isInstanceOf(IllegalStateException.class)
                        .hasCause(checked);
            }
            AtomicLong sum = new AtomicLong();
            pool.forChunks(1000, 7, (s, e) -> {
                for (int i = s; i < e; i++) {
                    sum.addAndGet(i);
                }
            });
            assertThat(sum.get()).isEqualTo(999L * 1000 / 2);
        }
    }

    @Test
    void nestedCallsAndSerialBodiesRunWholeOnTheirOwnThread() {
        AtomicReference<String> problem = new AtomicReference<>();
        AtomicIntegerArray nested = new AtomicIntegerArray(16 * 100);
        Parallel.forChunks(16, 16, (s, e) -> {
            Thread outer = Thread.currentThread();
            Parallel.forChunks(100, 10, (s2, e2) -> {
                if (Thread.currentThread() != outer || s2 != 0 || e2 != 100) {
                    problem.compareAndSet(null, "nested " + s2 + ".." + e2 + " ran on " + Thread.currentThread());
                }
                for (int i = s; i < e; i++) {
                    for (int j = s2; j < e2; j++) {
                        nested.incrementAndGet(i * 100 + j);
                    }
                }
            });
        });
        assertThat(problem.get()).isNull();
        for (int i = 0; i < nested.length(); i++) {
            assertThat(nested.get(i)).as("nested index %d", i).isEqualTo(1);
        }
        Thread me = Thread.currentThread();
        List<String> ranges = new ArrayList<>();
        Parallel.serial(() -> {
            Parallel.forChunks(100, 10, (s, e) -> {
                assertThat(Thread.currentThread()).isSameAs(me);
                ranges.add(s + ".." + e);
            });
            return null;
        });
        // a serial call is one run over the whole range, on the calling thread
        assertThat(ranges).containsExactly("0..100");
    }

    @Test
    void theSharedWorkersAreDaemonsNamedFulgurCpu() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Parallel.threads() > 1, "needs a worker pool");
        Set<Thread> seen = ConcurrentHashMap.newKeySet();
        for (int i = 0; i < 200 && seen.size() < 2; i++) {
            Parallel.forChunks(64, 64, (s, e) -> {
                seen.add(Thread.currentThread());
                sleepQuietly(0, 20_000);
            });
        }
        Thread me = Thread.currentThread();
        for (Thread t : seen) {
            if (t != me) {
                assertThat(t.getName()).matches("fulgur-cpu-[1-9][0-9]*");
                assertThat(t.isDaemon()).as("%s is a daemon", t.getName()).isTrue();
            }
        }
        assertThat(seen).as("a worker ran a chunk").hasSizeGreaterThan(1);
    }

    /**
     * Every chunk blocks until caller and all workers are inside one: with spin 0 each worker parks between calls, so
     * a single lost wake-up (or a worker that never joins) fails the barrier.
     */
    @ParameterizedTest(name = "spin {0} µs")
    @CsvSource({"0", "50"})
    void everyWorkerJoinsWhenEachChunkNeedsAllOfThem(long spinMicros) {
        int workers = 3;
        try (Pool pool = Pool.of(workers, spinMicros)) {
            assertTimeoutPreemptively(LIMIT, () -> {
                for (int call = 0; call < 300; call++) {
                    CyclicBarrier all = new CyclicBarrier(workers + 1);
                    Set<Thread> ran = ConcurrentHashMap.newKeySet();
                    pool.forChunks(workers + 1, workers + 1, (s, e) -> {
                        ran.add(Thread.currentThread());
                        try {
                            all.await(10, TimeUnit.SECONDS);
                        } catch (Exception ex) {
                            throw new IllegalStateException("call " + s + ": not every worker joined", ex);
                        }
                    });
                    assertThat(ran).hasSize(workers + 1);
                    if (spinMicros == 0 && call % 50 == 0) {
                        Thread.sleep(2); // let them all park, so the next call must unpark them
                    }
                }
            });
        }
    }

    @ParameterizedTest(name = "workers {0}, spin {1} µs")
    @CsvSource({"-1, 50", "1, 0", "1, 50", "3, 0", "3, 20"})
    void manyConcurrentCallersAllFinishWithCorrectResults(int workers, long spinMicros) {
        int callers = 8, calls = 2000;
        try (Pool pool = Pool.of(workers, spinMicros)) {
            assertTimeoutPreemptively(LIMIT, () -> {
                List<Thread> threads = new ArrayList<>();
                AtomicReference<Throwable> failure = new AtomicReference<>();
                CountDownLatch start = new CountDownLatch(1);
                for (int t = 0; t < callers; t++) {
                    long seed = t;
                    threads.add(Thread.ofPlatform().start(() -> {
                        try {
                            start.await();
                            SplittableRandom r = new SplittableRandom(seed);
                            for (int call = 0; call < calls; call++) {
                                int count = 1 + r.nextInt(2000);
                                int chunks = 1 + r.nextInt(12);
                                AtomicLong sum = new AtomicLong();
                                pool.forChunks(count, chunks, (s, e) -> {
                                    long part = 0;
                                    for (int i = s; i < e; i++) {
                                        part += i;
                                    }
                                    sum.addAndGet(part);
                                });
                                long total = sum.get();
                                if (total != (long) count * (count - 1) / 2) {
                                    throw new AssertionError("caller " + seed + " call " + call + ": sum " + total);
                                }
                            }
                        } catch (Throwable e) {
                            failure.compareAndSet(null, e);
                        }
                    }));
                }
                start.countDown();
                for (Thread t : threads) {
                    t.join();
                }
                assertThat(failure.get()).isNull();
            });
        }
    }

    @Test
    void idleWorkersParkAfterTheSpinWindow() {
        try (Pool pool = Pool.of(3, 50)) {
            for (int call = 0; call < 1000; call++) {
                pool.forChunks(4, 4, (s, e) -> {});
            }
            List<Thread> workers = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().startsWith(pool.prefix()))
                    .toList();
            assertThat(workers).hasSize(3);
            assertTimeoutPreemptively(LIMIT, () -> {
                while (!workers.stream().allMatch(t -> t.getState() == Thread.State.WAITING)) {
                    Thread.sleep(10);
                }
            });
        }
    }

    @Test
    void theCallerWaitsForClaimedChunksAndKeepsItsInterrupt() {
        try (Pool pool = Pool.of(1, 0)) {
            assertTimeoutPreemptively(LIMIT, () -> {
                Thread me = Thread.currentThread();
                int waited = 0;
                for (int call = 0; call < 20; call++) {
                    AtomicBoolean workerStarted = new AtomicBoolean();
                    AtomicBoolean workerDone = new AtomicBoolean();
                    pool.forChunks(2, 2, (s, e) -> {
                        if (Thread.currentThread() == me) {
                            me.interrupt();
                            long until = System.nanoTime() + 2_000_000_000L;
                            while (!workerStarted.get() && System.nanoTime() < until) {
                                Thread.onSpinWait();
                            }
                        } else {
                            workerStarted.set(true);
                            sleepQuietly(20, 0);
                            workerDone.set(true);
                        }
                    });
                    assertThat(Thread.interrupted())
                            .as("the caller's interrupt")
                            .isTrue();
                    if (workerStarted.get()) {
                        assertThat(workerDone.get())
                                .as("returned before the worker's chunk ended")
                                .isTrue();
                        waited++;
                    }
                }
                assertThat(waited).as("calls where the worker took a chunk").isPositive();
            });
        }
    }

    private static void sleepQuietly(long millis, int nanos) {
        try {
            Thread.sleep(millis, nanos);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @SuppressWarnings("unchecked")
    private static <T extends Throwable> void sneakyThrow(Throwable t) throws T {
        throw (T) t;
    }
}
