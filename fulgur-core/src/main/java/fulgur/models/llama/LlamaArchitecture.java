package fulgur.models.llama;

import fulgur.models.Architecture;
import fulgur.models.LanguageModel;
import java.util.List;

/** Llama (transformers' layout) and, with {@code linear = true}, Linear-Llama: the same blocks with linear attention. */
public class LlamaArchitecture implements Architecture {
    private final boolean linear;

    /** Llama. */
    public LlamaArchitecture() {
        this(false);
    }

    /**
     * Llama, or Linear-Llama.
     *
     * @param linear whether the token mixers are linear attention
     */
    public LlamaArchitecture(boolean linear) {
        this.linear = linear;
    }

    /** Linear-Llama (listed as its own architecture service). */
    public static final class Linear extends LlamaArchitecture {
        /** The Linear-Llama service. */
        public Linear() {
            super(true);
        }
    }

    @Override
    public String name() {
        return linear ? "linear-llama" : "llama";
    }

    @Override
    public String title() {
        return linear ? "Linear-Llama" : "Llama";
    }

    @Override
    public List<String> modelTypes() {
        return List.of(linear ? LlamaConfig.LINEAR_LLAMA : LlamaConfig.LLAMA);
    }

    @Override
    public String smallConfig(int vocab, int dim, int layers, int heads) {
        if (dim <= 0 || layers <= 0 || heads <= 0 || dim % heads != 0 || (dim / heads) % 2 != 0) {
            throw new IllegalArgumentException(title()
                    + " needs positive layers and a width that is a positive multiple of the heads with an even head size (got width "
                    + dim + ", heads " + heads + ", layers " + layers + ")");
        }
        return LlamaConfig.small(modelTypes().get(0), vocab, dim, layers, heads)
                .validate()
                .toJson();
    }

    @Override
    public LanguageModel build(String configJson, long seed) {
        LlamaConfig c = LlamaConfig.parse(configJson);
        if (c.isLinear() != linear) {
            throw new IllegalArgumentException(title() + " cannot build model_type '" + c.modelType() + "'");
        }
        return new LlamaModel(c, seed);
    }
}
