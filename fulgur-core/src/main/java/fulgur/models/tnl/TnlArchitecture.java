package fulgur.models.tnl;

import fulgur.models.Architecture;
import fulgur.models.LanguageModel;
import java.util.List;

/** TransNormerLLM (OpenNLPLab's Hugging Face layout; our parameter names are theirs). */
public final class TnlArchitecture implements Architecture {

    @Override
    public String name() {
        return "tnl";
    }

    @Override
    public String title() {
        return "TransNormerLLM";
    }

    @Override
    public List<String> modelTypes() {
        return List.of("transnormer");
    }

    @Override
    public String smallConfig(int vocab, int dim, int layers, int heads) {
        if (dim <= 0 || layers <= 0 || heads <= 0 || dim % heads != 0) {
            throw new IllegalArgumentException("TNL needs a width that is a positive multiple of the heads and positive layers (got width " + dim
                    + ", heads " + heads + ", layers " + layers + ")");
        }
        return TnlConfig.small(vocab, dim, layers, heads).validate().toJson();
    }

    @Override
    public LanguageModel build(String configJson, long seed) {
        return new TnlModel(TnlConfig.parse(configJson), seed);
    }
}
