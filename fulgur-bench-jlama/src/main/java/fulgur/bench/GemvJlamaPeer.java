package fulgur.bench;

import com.github.tjake.jlama.math.VectorMath;
import com.github.tjake.jlama.tensor.FloatBufferTensor;
import com.github.tjake.jlama.tensor.TensorShape;
import com.github.tjake.jlama.tensor.operations.TensorOperationsProvider;
import com.github.tjake.jlama.util.PhysicalCoreExecutor;
import fulgur.tensor.Scope;
import java.lang.foreign.Arena;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The GEMV of decoding (one row against the rows of W) in fulgur and in Jlama, on the very same weights: Jlama's
 * tensors wrap the memory of fulgur's ({@link GemvQuick#cases}), so both read the same bytes from the same pages, and a
 * plain read of those bytes ({@link GemvQuick#read}) runs in the same rounds. Jlama's product is the one its models
 * use for f32 weights: {@code VectorMath.pchunk} over the rows (its thread pool, one part per thread) of
 * {@code dotProductChunk}.
 *
 * <p>{@code GemvJlamaPeer [--rounds 10] [--threads 2]}: a markdown table, one row per case: GB/s of weights read
 * (medians over rounds) and the ratios (medians of the ratios within a round).
 */
public final class GemvJlamaPeer {

    private GemvJlamaPeer() {}

    public static void main(String[] args) {
        Map<String, String> o = DecodeSpeed.options(args, Map.of("rounds", "10", "threads", "2"), List.of());
        PhysicalCoreExecutor.overrideThreadCount(Integer.parseInt(o.get("threads")));
        try (Scope scope = Scope.open("gemv");
                Arena arena = Arena.ofShared()) {
            List<GemvQuick.Case> cases = GemvQuick.cases(scope, arena);
            List<GemvQuick.Variant> variants = List.of(GemvQuick.read(), GemvQuick.fulgur(arena), jlama());
            double[][][] g = GemvQuick.measure(cases, variants, Integer.parseInt(o.get("rounds")));
            System.out.println(
                    "| case | MB | read GB/s | fulgur GB/s | Jlama GB/s | fulgur / read | Jlama / read | fulgur / Jlama |");
            System.out.println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            for (int ci = 0; ci < cases.size(); ci++) {
                double[][] c = g[ci];
                System.out.printf(
                        Locale.ROOT,
                        "| %s | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f× |%n",
                        cases.get(ci).name(),
                        cases.get(ci).bytes() / 1e6,
                        GemvQuick.median(c[0]),
                        GemvQuick.median(c[1]),
                        GemvQuick.median(c[2]),
                        GemvQuick.medianRatio(c[1], c[0]),
                        GemvQuick.medianRatio(c[2], c[0]),
                        GemvQuick.medianRatio(c[1], c[2]));
            }
        }
    }

    /** Jlama's f32 GEMV over each matrix, its tensors viewing fulgur's memory. */
    static GemvQuick.Variant jlama() {
        return new GemvQuick.Variant() {
            private final Map<GemvQuick.Case, List<FloatBufferTensor>> views = new java.util.IdentityHashMap<>();
            private final FloatBufferTensor x = random(4096);
            private final FloatBufferTensor y = new FloatBufferTensor(1, 32000);

            @Override
            public String name() {
                return "jlama";
            }

            @Override
            public void pass(GemvQuick.Case c) {
                List<FloatBufferTensor> ws = views.computeIfAbsent(c, GemvJlamaPeer::views);
                for (FloatBufferTensor w : ws) {
                    int n = w.shape().first(), k = w.shape().last();
                    VectorMath.pchunk(
                            0,
                            n,
                            (start, size) ->
                                    TensorOperationsProvider.get().dotProductChunk(y, x, w, 0, k, start, size));
                }
            }
        };
    }

    private static List<FloatBufferTensor> views(GemvQuick.Case c) {
        List<FloatBufferTensor> out = new ArrayList<>();
        for (GemvQuick.Matrix w : c.weights()) {
            var buf = w.data().asByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer();
            out.add(new FloatBufferTensor(buf, TensorShape.of(w.rows(), w.cols()), false));
        }
        return out;
    }

    private static FloatBufferTensor random(int k) {
        FloatBufferTensor t = new FloatBufferTensor(1, k);
        SplittableRandom rnd = new SplittableRandom(3);
        for (int i = 0; i < k; i++) {
            t.set((float) rnd.nextDouble(-1, 1), 0, i);
        }
        return t;
    }
}
