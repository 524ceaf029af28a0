package fulgur.models.hgrn2;

import fulgur.models.Architecture;
import fulgur.models.LanguageModel;
import java.util.List;

/** HGRN2 in fla's layout (fla-hub checkpoints; our parameter names are theirs). */
public final class Hgrn2Architecture implements Architecture {

    /** The service instance that {@link fulgur.models.Architectures} loads. */
    public Hgrn2Architecture() {}

    @Override
    public String name() {
        return "hgrn2";
    }

    @Override
    public String title() {
        return "HGRN2";
    }

    @Override
    public List<String> modelTypes() {
        return List.of("hgrn2");
    }

    @Override
    public String smallConfig(int vocab, int dim, int layers, int heads) {
        if (dim <= 0 || layers <= 0 || heads <= 0 || dim % heads != 0) {
            throw new IllegalArgumentException(
                    "HGRN2 needs a width that is a positive multiple of the heads and positive layers (got width " + dim
                            + ", heads " + heads + ", layers " + layers + ")");
        }
        return Hgrn2Config.small(vocab, dim, layers, heads).validate().toJson();
    }

    @Override
    public LanguageModel build(String configJson, long seed) {
        return new Hgrn2Model(Hgrn2Config.parse(configJson), seed);
    }
}
