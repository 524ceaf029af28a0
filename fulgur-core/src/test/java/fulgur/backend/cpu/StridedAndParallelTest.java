package fulgur.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.testing.Props;
import fulgur.testing.Ref;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

/** The iteration engine under every strided kernel, and the shared pool. */
class StridedAndParallelTest {

    @Test
    void stridedVisitsEveryElementInRowMajorOrder() {
        Props.forAll("Strided.of", 2000, 1, r -> {
            int[] shape = Props.shape(r, 0, 5, 4);
            int ops = 1 + r.nextInt(3);
            long[][] st = new long[ops][shape.length];
            for (int o = 0; o < ops; o++) {
                if (r.nextBoolean()) {
                    st[o] = fulgur.tensor.Shape.contiguousStrides(shape);
                } else {
                    for (int i = 0; i < shape.length; i++) {
                        st[o][i] = r.nextInt(4) == 0 ? 0 : r.nextInt(30);
                    }
                }
            }
            Strided it = Strided.of(shape, st);
            long n = Ref.numel(shape);
            assertThat(it.rows() * it.inner())
                    .as("element count for %s", Arrays.toString(shape))
                    .isEqualTo(n);
            long[] offs = new long[ops];
            long f = 0;
            for (long row = 0; row < it.rows(); row++) {
                it.offsets(row, offs);
                for (int j = 0; j < it.inner(); j++, f++) {
                    int[] idx = Ref.unravel(f, shape);
                    for (int o = 0; o < ops; o++) {
                        long expected = 0;
                        for (int i = 0; i < shape.length; i++) {
                            expected += idx[i] * st[o][i];
                        }
                        assertThat(offs[o] + j * it.innerStride(o))
                                .as(
                                        "operand %d element %d of %s strides %s",
                                        o, f, Arrays.toString(shape), Arrays.toString(st[o]))
                                .isEqualTo(expected);
                    }
                }
            }
        });
    }

    @Test
    void theCallerTakesTheChunksOfWorkersThatAreBusyElsewhere() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Parallel.threads() > 1, "needs a worker pool");
        // another thread's loop holds every worker until released; ours must not wait for them
        int workers = Parallel.threads() - 1;
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicInteger held = new java.util.concurrent.atomic.AtomicInteger();
        Thread holder = Thread.ofPlatform()
                .start(() -> Parallel.forRange(Parallel.threads(), 1, (s, e) -> {
                    if (Thread.currentThread().getName().startsWith("fulgur-cpu-")) {
                        held.incrementAndGet();
                        awaitQuietly(release);
                    } else {
                        long until = System.nanoTime() + 5_000_000_000L;
                        while (held.get() < workers && System.nanoTime() < until) {
                            Thread.onSpinWait();
                        }
                    }
                }));
        try {
            long until = System.nanoTime() + 5_000_000_000L;
            while (held.get() < workers && System.nanoTime() < until) {
                Thread.sleep(1);
            }
            org.junit.jupiter.api.Assumptions.assumeTrue(
                    held.get() == workers, "the holder's caller took every chunk itself");
            AtomicIntegerArray hits = new AtomicIntegerArray(1000);
            java.util.concurrent.CompletableFuture<Void> ours = java.util.concurrent.CompletableFuture.runAsync(
                    () -> Parallel.forRange(1000, 1, (s, e) -> {
                        for (int i = s; i < e; i++) {
                            hits.incrementAndGet(i);
                        }
                    }),
                    java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor());
            ours.get(10, java.util.concurrent.TimeUnit.SECONDS);
            for (int i = 0; i < 1000; i++) {
                assertThat(hits.get(i)).as("index %d", i).isEqualTo(1);
            }
        } finally {
            release.countDown();
            holder.join();
        }
    }

    @Test
    void forChunksRunsEachOfManyChunksOnceWithFixedBounds() {
        for (int[] cc : new int[][] {{100, 8}, {7, 7}, {5, 9}, {1000, 1}, {64, 3}}) {
            int count = cc[0], chunks = cc[1];
            AtomicIntegerArray hits = new AtomicIntegerArray(count);
            java.util.Set<String> seen = java.util.concurrent.ConcurrentHashMap.newKeySet();
            Parallel.forChunks(count, chunks, (s, e) -> {
                seen.add(s + ".." + e);
                for (int i = s; i < e; i++) {
                    hits.incrementAndGet(i);
                }
            });
            int n = Parallel.threads() == 1 ? 1 : Math.min(chunks, count); // one thread runs the range whole
            java.util.Set<String> expected = new java.util.HashSet<>();
            for (int c = 0; c < n; c++) {
                expected.add(count * c / n + ".." + count * (c + 1) / n);
            }
            assertThat(seen)
                    .as("%d indices in %d chunks", count, chunks)
                    .isEqualTo(n == 1 ? java.util.Set.of("0.." + count) : expected);
            for (int i = 0; i < count; i++) {
                assertThat(hits.get(i)).isEqualTo(1);
            }
        }
    }

    private static void awaitQuietly(java.util.concurrent.CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void forRangeCoversEachIndexOnceAndPropagatesFailures() {
        for (int count : new int[] {0, 1, 2, 3, 7, 1000, 100_003}) {
            for (int grain : new int[] {1, 16, 1 << 20}) {
                AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(1, count));
                Parallel.forRange(count, grain, (s, e) -> {
                    assertThat(s).isLessThanOrEqualTo(e);
                    for (int i = s; i < e; i++) {
                        hits.incrementAndGet(i);
                    }
                });
                for (int i = 0; i < count; i++) {
                    assertThat(hits.get(i)).as("index %d of %d", i, count).isEqualTo(1);
                }
            }
        }
        assertThatThrownBy(() -> Parallel.forRange(100, 1, (s, e) -> {
                    if (e == 100) {
                        throw new IllegalArgumentException("last chunk failed");
                    }
                }))
                .hasMessage("last chunk failed");
        // nested loops run serially inside workers instead of deadlocking the pool
        AtomicIntegerArray nested = new AtomicIntegerArray(64);
        Parallel.forRange(8, 1, (s, e) -> {
            for (int i = s; i < e; i++) {
                int outer = i;
                Parallel.forRange(8, 1, (s2, e2) -> {
                    for (int j = s2; j < e2; j++) {
                        nested.incrementAndGet(outer * 8 + j);
                    }
                });
            }
        });
        for (int i = 0; i < 64; i++) {
            assertThat(nested.get(i)).isEqualTo(1);
        }
        assertThat(Parallel.threads()).isPositive();
    }

    @Test
    void erfMatchesAnIndependentQuadrature() {
        for (double x = -7; x <= 7; x += 0.01) {
            assertThat(ScalarMath.erf(x))
                    .as("erf(%s)", x)
                    .isCloseTo(Ref.erf(x), org.assertj.core.data.Offset.offset(1e-13));
        }
        for (double x : new double[] {2.4999999, 2.5, 2.5000001, 6, 6.0000001, 1e-300, -1e-10, 0}) {
            assertThat(ScalarMath.erf(x))
                    .as("erf(%s)", x)
                    .isCloseTo(Ref.erf(x), org.assertj.core.data.Offset.offset(1e-13));
        }
        assertThat(ScalarMath.erf(Double.POSITIVE_INFINITY)).isEqualTo(1);
        assertThat(ScalarMath.erf(Double.NEGATIVE_INFINITY)).isEqualTo(-1);
    }

    @Test
    void sigmoidAndSoftplusAreStableAtTheExtremes() {
        for (double x : new double[] {-800, -50, -1e-9, 0, 1e-9, 50, 800}) {
            double s = ScalarMath.sigmoid(x);
            assertThat(s).isBetween(0.0, 1.0);
            assertThat(ScalarMath.softplus(x))
                    .isGreaterThanOrEqualTo(Math.max(x, 0))
                    .isFinite();
        }
        assertThat(ScalarMath.sigmoid(-800)).isZero();
        assertThat(ScalarMath.softplus(800)).isEqualTo(800);
        assertThat(ScalarMath.softplus(-800)).isZero();
    }
}
