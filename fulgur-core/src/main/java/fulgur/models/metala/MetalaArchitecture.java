package fulgur.models.metala;

import fulgur.models.Architecture;
import fulgur.models.LanguageModel;
import java.util.List;

/** MetaLA in the official Hugging Face layout (BICLab/MetaLA; our parameter names are theirs). */
public final class MetalaArchitecture implements Architecture {

    /** The service instance that {@link fulgur.models.Architectures} loads. */
    public MetalaArchitecture() {}

    @Override
    public String name() {
        return "metala";
    }

    @Override
    public String title() {
        return "MetaLA";
    }

    @Override
    public List<String> modelTypes() {
        return List.of("metala");
    }

    @Override
    public String smallConfig(int vocab, int dim, int layers, int heads) {
        if (dim <= 0 || layers <= 0 || heads <= 0 || dim % (2 * heads) != 0) {
            throw new IllegalArgumentException(
                    "MetaLA needs a width that is a positive multiple of twice the heads and positive layers (got width "
                            + dim + ", heads " + heads + ", layers " + layers + ")");
        }
        return MetalaConfig.small(vocab, dim, layers, heads).validate().toJson();
    }

    @Override
    public LanguageModel build(String configJson, long seed) {
        return new MetalaModel(MetalaConfig.parse(configJson), seed);
    }
}
