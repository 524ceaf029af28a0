package fulgur.models.minimax;

import fulgur.models.Architecture;
import fulgur.models.LanguageModel;
import java.util.List;

/** The MiniMax-Text-01-style hybrid (transformers' MiniMax layout; our parameter names are theirs). */
public final class MiniMaxArchitecture implements Architecture {

    @Override
    public String name() {
        return "minimax";
    }

    @Override
    public String title() {
        return "MiniMax hybrid";
    }

    @Override
    public List<String> modelTypes() {
        return List.of("minimax");
    }

    @Override
    public String smallConfig(int vocab, int dim, int layers, int heads) {
        if (dim <= 0 || layers <= 0 || heads <= 0 || dim % heads != 0 || (dim / heads) % 2 != 0) {
            throw new IllegalArgumentException("MiniMax needs positive layers and a width that is a positive multiple of the heads with an even head size (got width "
                    + dim + ", heads " + heads + ", layers " + layers + ")");
        }
        return MiniMaxConfig.small(vocab, dim, layers, heads).validate().toJson();
    }

    @Override
    public LanguageModel build(String configJson, long seed) {
        return new MiniMaxModel(MiniMaxConfig.parse(configJson), seed);
    }
}
