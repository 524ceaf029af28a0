package fulgur.models.lightnet;

import fulgur.models.Architecture;
import fulgur.models.LanguageModel;
import java.util.List;

/** LightNet (fla's layout and config.json; our parameter names are fla-hub's). */
public final class LightNetArchitecture implements Architecture {

    /** The service instance that {@link fulgur.models.Architectures} loads. */
    public LightNetArchitecture() {}

    @Override
    public String name() {
        return "lightnet";
    }

    @Override
    public String title() {
        return "LightNet";
    }

    @Override
    public List<String> modelTypes() {
        return List.of("lightnet");
    }

    @Override
    public String smallConfig(int vocab, int dim, int layers, int heads) {
        if (dim <= 0 || layers <= 0 || heads <= 0 || dim % heads != 0) {
            throw new IllegalArgumentException(
                    "LightNet needs a width that is a positive multiple of the heads and positive layers (got width "
                            + dim + ", heads " + heads + ", layers " + layers + ")");
        }
        return LightNetConfig.small(vocab, dim, layers, heads).validate().toJson();
    }

    @Override
    public LanguageModel build(String configJson, long seed) {
        return new LightNetModel(LightNetConfig.parse(configJson), seed);
    }
}
