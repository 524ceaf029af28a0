package fulgur.serve.engine;

import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.nn.Int8Weights;
import fulgur.serve.EngineOptions;
import fulgur.tensor.Rng;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** Tiny models of every architecture and engine options for tests. */
final class Tiny {
    static final int VOCAB = 257;

    private Tiny() {}

    /** Every registered architecture, plus TNL with LRPE (positions that differ per row) and TNL with int8 weights. */
    static List<String> architectures() {
        List<String> names = new ArrayList<>();
        for (Architecture a : Architectures.all()) {
            names.add(a.name());
        }
        names.add("tnl-lrpe");
        names.add("tnl-int8");
        return names;
    }

    static LanguageModel model(String name, long seed) {
        if (name.equals("tnl-lrpe")) {
            return new TnlModel(
                    TnlConfig.small(VOCAB, 16, 2, 2).withLrpe(List.of(1, 1)).withTiedEmbeddings(false), seed);
        }
        if (name.equals("tnl-int8")) {
            TnlModel m = new TnlModel(TnlConfig.small(VOCAB, 16, 2, 2).withTiedEmbeddings(false), seed);
            Int8Weights.quantizeLinears(m);
            return m;
        }
        Architecture a = Architectures.byName(name);
        return a.build(a.smallConfig(VOCAB, 16, 2, 2), seed);
    }

    static EngineOptions options(int maxRunning, int chunk, long cacheBytes) {
        return new EngineOptions(maxRunning, 64, 4096, 256, 1L << 30, chunk, cacheBytes, 0, Duration.ofMinutes(5), 4);
    }

    static int[] prompt(long seed, int length) {
        Rng r = new Rng(seed);
        int[] p = new int[length];
        for (int i = 0; i < length; i++) {
            p[i] = r.nextInt(256); // bytes only: never the end-of-text token
        }
        return p;
    }
}
