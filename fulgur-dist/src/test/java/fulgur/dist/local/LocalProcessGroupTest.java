package fulgur.dist.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.dist.CommOp;
import fulgur.dist.DistException;
import fulgur.dist.DistTimeoutException;
import fulgur.dist.ProcessGroup;
import fulgur.dist.ReduceOp;
import fulgur.dist.Work;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class LocalProcessGroupTest {
    private static final Duration T = Duration.ofSeconds(20);

    @Test
    void collectivesGiveTheExpectedValues() {
        int n = 4;
        List<double[][]> res = LocalWorld.run(n, T, pg -> {
            try (Scope s = Scope.open()) {
                int r = pg.rank();
                Tensor a = Tensor.of(new float[] {r, 10 * r, -r}, 3);
                Tensor mx = Tensor.of(new float[] {r, -r}, 2);
                Tensor avg = Tensor.of(new double[] {r}, 1);
                Tensor gathered = Tensor.zeros(DType.F32, n, 2);
                Tensor rsIn = Tensor.of(new float[] {1, 2, 3, 4, 5, 6, 7, 8}, 8);
                Tensor rsOut = Tensor.zeros(DType.F32, 2);
                Tensor bc = Tensor.ofLongs(new long[] {r, r}, 2);
                // all launched before any wait: they overlap
                Work w1 = pg.allReduce(a, ReduceOp.SUM);
                Work w2 = pg.allReduce(mx, ReduceOp.MAX);
                Work w3 = pg.allReduce(avg, ReduceOp.AVG);
                Work w4 = pg.allGather(Tensor.of(new float[] {r, r + 0.5f}, 2), gathered);
                Work w5 = pg.reduceScatter(rsIn, rsOut, ReduceOp.SUM);
                Work w6 = pg.broadcast(bc, 2);
                Work.awaitAll(List.of(w1, w2, w3, w4, w5, w6));
                pg.barrier().await();
                return new double[][] {
                    a.toDoubleArray(),
                    mx.toDoubleArray(),
                    avg.toDoubleArray(),
                    gathered.toDoubleArray(),
                    rsOut.toDoubleArray(),
                    bc.toDoubleArray()
                };
            }
        });
        for (int r = 0; r < n; r++) {
            double[][] x = res.get(r);
            assertThat(x[0]).containsExactly(6, 60, -6);
            assertThat(x[1]).containsExactly(3, 0);
            assertThat(x[2]).containsExactly(1.5);
            assertThat(x[3]).containsExactly(0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5);
            assertThat(x[4]).containsExactly(4 * (2 * r + 1), 4 * (2 * r + 2));
            assertThat(x[5]).containsExactly(2, 2);
        }
    }

    @Test
    void sendRecvRingAndStats() {
        int n = 3;
        List<double[]> res = LocalWorld.run(n, T, pg -> {
            try (Scope s = Scope.open()) {
                int r = pg.rank();
                Tensor got = Tensor.zeros(DType.F32, 2);
                pg.send(Tensor.of(new float[] {r, r * r}, 2), (r + 1) % n).await();
                pg.recv(got, (r + n - 1) % n).await();
                assertThat(pg.stats().calls(CommOp.SEND)).isEqualTo(1);
                assertThat(pg.stats().elements(CommOp.RECV)).isEqualTo(2);
                return got.toDoubleArray();
            }
        });
        assertThat(res.get(0)).containsExactly(2, 4);
        assertThat(res.get(1)).containsExactly(0, 0);
        assertThat(res.get(2)).containsExactly(1, 1);
    }

    @Test
    void splitMakesTheLaspGrid() {
        // 6 ranks: sequence-parallel groups of 3 (contiguous), data-parallel groups of 2 (strided)
        List<String> res = LocalWorld.run(6, T, pg -> {
            try (Scope s = Scope.open()) {
                ProcessGroup sp = pg.split(pg.rank() / 3, pg.rank());
                ProcessGroup dp = pg.split(pg.rank() % 3, pg.rank());
                Tensor x = Tensor.of(new float[] {pg.rank()}, 1);
                sp.allReduce(x, ReduceOp.SUM).await();
                Tensor y = Tensor.of(new float[] {pg.rank()}, 1);
                dp.allReduce(y, ReduceOp.SUM).await();
                return sp.name() + " " + sp.rank() + "/" + sp.size() + " " + x.item() + " | " + dp.name() + " "
                        + dp.rank() + " " + y.item();
            }
        });
        assertThat(res.get(4)).isEqualTo("world/1[3,4,5] 1/3 12.0 | world/1[1,4] 1 5.0");
        assertThat(res.get(0)).isEqualTo("world/0[0,1,2] 0/3 3.0 | world/0[0,3] 0 3.0");
    }

    @Test
    void simulatedLatencyDelaysEveryOperation() {
        try (LocalWorld w = new LocalWorld(2, T, Duration.ofMillis(40))) {
            List<Double> ms = w.runAll(pg -> {
                try (Scope s = Scope.open()) {
                    Tensor t = Tensor.zeros(DType.F32, 4);
                    long t0 = System.nanoTime();
                    pg.allReduce(t, ReduceOp.SUM).await();
                    if (pg.rank() == 0) {
                        pg.send(t, 1).await();
                    } else {
                        pg.recv(t, 0).await();
                    }
                    return (System.nanoTime() - t0) / 1e6;
                }
            });
            assertThat(ms.get(0)).isGreaterThanOrEqualTo(40);
            assertThat(ms.get(1)).isGreaterThanOrEqualTo(80);
        }
    }

    @Test
    void reductionsAreDeterministic() {
        List<float[]> first = null;
        for (int trial = 0; trial < 3; trial++) {
            List<float[]> res = LocalWorld.run(5, T, pg -> {
                try (Scope s = Scope.open()) {
                    float[] v = new float[1000];
                    for (int i = 0; i < v.length; i++) {
                        v[i] = (float) Math.sin(i * 0.37 + pg.rank()) * (float) Math.pow(10, pg.rank() - 2);
                    }
                    Tensor t = Tensor.of(v, v.length);
                    pg.allReduce(t, ReduceOp.SUM).await();
                    return t.toFloatArray();
                }
            });
            if (first == null) {
                first = res;
            }
            for (int r = 0; r < 5; r++) {
                assertThat(res.get(r)).containsExactly(first.get(0));
            }
        }
    }

    @Test
    void mismatchedCollectivesAreNamed() {
        assertThatThrownBy(() -> LocalWorld.run(2, T, pg -> {
                    try (Scope s = Scope.open()) {
                        Tensor t = Tensor.zeros(DType.F32, pg.rank() == 0 ? 4 : 5);
                        pg.allReduce(t, ReduceOp.SUM).await();
                        return null;
                    }
                }))
                .isInstanceOf(DistException.class)
                .hasStackTraceContaining("the ranks disagree")
                .hasStackTraceContaining("called allReduce(sum) of f32[4]")
                .hasStackTraceContaining("called allReduce(sum) of f32[5]");
        assertThatThrownBy(() -> LocalWorld.run(2, T, pg -> {
                    try (Scope s = Scope.open()) {
                        Tensor t = Tensor.zeros(DType.F32, 4);
                        (pg.rank() == 0 ? pg.allReduce(t, ReduceOp.SUM) : pg.broadcast(t, 0)).await();
                        return null;
                    }
                }))
                .hasStackTraceContaining("the ranks disagree")
                .hasStackTraceContaining("rank 0 called allReduce(sum) of f32[4]")
                .hasStackTraceContaining(
                        "rank 1 called broadcast of f32[4] from root 0"); // whichever rank notices first reports both
    }

    @Test
    void aLateRankTimesOutNamingIt() {
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> LocalWorld.run(3, Duration.ofMillis(300), pg -> {
                    if (pg.rank() == 2) {
                        try {
                            Thread.sleep(3000);
                        } catch (InterruptedException e) {
                            throw new RuntimeException(e);
                        }
                        return null;
                    }
                    pg.barrier().await();
                    return null;
                }))
                .isInstanceOf(DistException.class)
                .hasRootCauseInstanceOf(DistTimeoutException.class)
                .hasStackTraceContaining("timed out after 300 ms waiting for rank(s) [2]");
        assertThat((System.nanoTime() - t0) / 1e9).isLessThan(5);
    }

    @Test
    void aFailedRankStopsTheOthersAtOnce() {
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> LocalWorld.run(4, Duration.ofSeconds(60), pg -> {
                    try (Scope s = Scope.open()) {
                        if (pg.rank() == 1) {
                            throw new IllegalStateException("boom on rank 1");
                        }
                        Tensor t = Tensor.zeros(DType.F32, 3);
                        pg.allReduce(t, ReduceOp.SUM).await();
                        pg.recv(t, 1).await();
                        return null;
                    }
                }))
                .isInstanceOf(DistException.class)
                .hasMessageContaining("rank 1 of 4 failed: IllegalStateException: boom on rank 1");
        assertThat((System.nanoTime() - t0) / 1e9).isLessThan(5);
    }

    @Test
    void badArgumentsAreNamed() {
        assertThatThrownBy(() -> LocalWorld.run(2, T, pg -> {
                    try (Scope s = Scope.open()) {
                        pg.allGather(Tensor.zeros(DType.F32, 3), Tensor.zeros(DType.F32, 5));
                        return null;
                    }
                }))
                .hasStackTraceContaining("output f32[5]@cpu must hold 2 × 3 = 6 elements");
        assertThatThrownBy(() -> LocalWorld.run(2, T, pg -> {
                    try (Scope s = Scope.open()) {
                        pg.send(Tensor.zeros(DType.F32, 3), 2);
                        return null;
                    }
                }))
                .hasStackTraceContaining("destination rank 2 is outside [0, 2)");
        assertThatThrownBy(() -> LocalWorld.run(2, T, pg -> {
                    try (Scope s = Scope.open()) {
                        if (pg.rank() == 0) {
                            pg.send(Tensor.zeros(DType.F32, 3), 1);
                        } else {
                            pg.recv(Tensor.zeros(DType.F32, 4), 0).await();
                        }
                        return null;
                    }
                }))
                .hasStackTraceContaining("the message holds f32[3] but the receive buffer is f32[4]");
    }

    @Test
    void allToAllMovesVariableSizesIncludingEmptyOnes() {
        // rank s sends (s + d) % 3 elements valued 100·s + d to rank d: some pairs send nothing
        int n = 4;
        List<double[]> res = LocalWorld.run(n, T, pg -> {
            try (Scope s = Scope.open()) {
                int r = pg.rank();
                long[] send = new long[n];
                long[] recv = new long[n];
                java.util.List<Float> values = new java.util.ArrayList<>();
                for (int d = 0; d < n; d++) {
                    send[d] = (r + d) % 3;
                    recv[d] = (d + r) % 3;
                    for (int i = 0; i < send[d]; i++) {
                        values.add(100f * r + d);
                    }
                }
                float[] in = new float[values.size()];
                for (int i = 0; i < in.length; i++) {
                    in[i] = values.get(i);
                }
                Tensor out = Tensor.zeros(
                        DType.F32, (int) java.util.Arrays.stream(recv).sum());
                pg.allToAll(Tensor.of(in, in.length), send, out, recv).await();
                assertThat(pg.stats().calls(CommOp.ALL_TO_ALL)).isEqualTo(1);
                return out.toDoubleArray();
            }
        });
        for (int r = 0; r < n; r++) {
            java.util.List<Double> want = new java.util.ArrayList<>();
            for (int src = 0; src < n; src++) {
                for (int i = 0; i < (src + r) % 3; i++) {
                    want.add(100.0 * src + r);
                }
            }
            assertThat(res.get(r))
                    .as("rank %d", r)
                    .containsExactly(
                            want.stream().mapToDouble(Double::doubleValue).toArray());
        }
    }

    @Test
    void allToAllCountsThatDisagreeAreNamed() {
        assertThatThrownBy(() -> LocalWorld.run(2, T, pg -> {
                    try (Scope s = Scope.open()) {
                        long[] recv = pg.rank() == 0 ? new long[] {1, 2} : new long[] {1, 1};
                        pg.allToAll(
                                        Tensor.zeros(DType.F32, 2),
                                        new long[] {1, 1},
                                        Tensor.zeros(DType.F32, (int) (recv[0] + recv[1])),
                                        recv)
                                .await();
                        return null;
                    }
                }))
                .hasStackTraceContaining("rank 1 sends 1 elements to rank 0, but rank 0 expects 2 from rank 1");
        assertThatThrownBy(() -> LocalWorld.run(2, T, pg -> {
                    try (Scope s = Scope.open()) {
                        pg.allToAll(
                                Tensor.zeros(DType.F32, 3), new long[] {1, 1}, Tensor.zeros(DType.F32, 2), new long[] {
                                    1, 1
                                });
                        return null;
                    }
                }))
                .hasStackTraceContaining(
                        "the send counts add up to 2 and the receive counts to 2, but the input is f32[3]@cpu");
    }

    @Test
    void aSimulatedLinkChargesBandwidthAndQueuesAGroupsOperations() {
        // 8 Mbit/s = 1 MB/s: a ring all-reduce of 100 KB between two ranks puts 100 KB on the wire (100 ms), and a
        // second
        // one launched at once waits behind the first
        try (LocalWorld w = new LocalWorld(2, T, Link.of(0.008, 0))) {
            List<double[]> ms = w.runAll(pg -> {
                try (Scope s = Scope.open()) {
                    Tensor a = Tensor.zeros(DType.F32, 25_000);
                    Tensor b = Tensor.zeros(DType.F32, 25_000);
                    long t0 = System.nanoTime();
                    Work wa = pg.allReduce(a, ReduceOp.SUM);
                    Work wb = pg.allReduce(b, ReduceOp.SUM);
                    boolean inFlight = !wa.isCompleted();
                    wa.await();
                    double first = (System.nanoTime() - t0) / 1e6;
                    wb.await();
                    return new double[] {first, (System.nanoTime() - t0) / 1e6, inFlight ? 1 : 0};
                }
            });
            for (double[] m : ms) {
                assertThat(m[0]).isGreaterThanOrEqualTo(100).isLessThan(180);
                assertThat(m[1]).isGreaterThanOrEqualTo(200);
                assertThat(m[2]).isEqualTo(1);
            }
        }
        assertThat(Link.of(80, 50).transferNanos(10_000_000)).isEqualTo(1_000_000 + 50_000);
    }
}
