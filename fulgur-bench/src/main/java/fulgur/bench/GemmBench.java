package fulgur.bench;

import fulgur.backend.cpu.Gemm;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * JMH throughput of f32 {@link Gemm#sgemm} (C = A·B, row-major, all cores of the pool).
 * The primary score is calls per second; the {@code gflop} secondary score is GFLOP/s.
 *
 * <p>{@code java -jar fulgur-bench/target/benchmarks.jar GemmBench}
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(
        value = 1,
        jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@State(Scope.Benchmark)
public class GemmBench {

    @Param({"1024x1024x1024", "4096x4096x1024"})
    public String size;

    private GemmQuick.Shape shape;
    private Arena arena;
    private MemorySegment a;
    private MemorySegment b;
    private MemorySegment c;

    /** Counts GFLOP done, so that JMH reports GFLOP/s next to calls/s. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Flops {
        public double gflop;

        @Setup(Level.Iteration)
        public void reset() {
            gflop = 0;
        }
    }

    @Setup(Level.Trial)
    public void setUp() {
        shape = GemmQuick.Shape.parse(size);
        arena = Arena.ofShared();
        a = GemmQuick.random(arena, (long) shape.m() * shape.k(), 1);
        b = GemmQuick.random(arena, (long) shape.k() * shape.n(), 2);
        c = arena.allocate((long) shape.m() * shape.n() * Float.BYTES, 64);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public MemorySegment sgemm(Flops flops) {
        GemmQuick.call(shape, a, b, c);
        flops.gflop += shape.flops() * 1e-9;
        return c;
    }
}
