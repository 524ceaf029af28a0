package fulgur.models.lcsm;

import fulgur.models.Architecture;
import fulgur.models.LanguageModel;
import java.util.List;

/**
 * LCSM (Expand–Oscillation–Shrink). The small config is the SSM instance (c_type 0, the official default); the
 * other instances are chosen with {@code --set c_type=1 --set o_type=…} or {@link LcsmConfig.Preset}. Heads do not
 * apply; the expand dim of the small config is 8.
 */
public final class LcsmArchitecture implements Architecture {

    /** The service instance that {@link fulgur.models.Architectures} loads. */
    public LcsmArchitecture() {}

    @Override
    public String name() {
        return "lcsm";
    }

    @Override
    public String title() {
        return "LCSM";
    }

    @Override
    public List<String> modelTypes() {
        return List.of("lcsm");
    }

    @Override
    public String smallConfig(int vocab, int dim, int layers, int heads) {
        if (vocab <= 0 || dim <= 0 || layers <= 0) {
            throw new IllegalArgumentException("LCSM needs a positive vocabulary, width and layers (got vocab " + vocab
                    + ", width " + dim + ", layers " + layers + ")");
        }
        return LcsmConfig.small(vocab, dim, layers, 8, LcsmConfig.Preset.SSM)
                .validate()
                .toJson();
    }

    @Override
    public LanguageModel build(String configJson, long seed) {
        return new LcsmModel(LcsmConfig.parse(configJson), seed);
    }
}
