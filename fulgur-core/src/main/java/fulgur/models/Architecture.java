package fulgur.models;

import fulgur.tensor.Tensor;
import java.util.List;
import java.util.Map;

/**
 * One model architecture as the command line, checkpoints and converters see it: its {@code --model} name, the
 * {@code model_type} values of its config.json (in the field names of its reference implementation), how to size
 * a small one, and how to build it. Registered in {@link Architectures}.
 */
public interface Architecture {

    /**
     * The {@code --model} name, lower case (e.g. "tnl", "hgrn2").
     *
     * @return the name
     */
    String name();

    /**
     * Human name for logs (e.g. "TransNormerLLM").
     *
     * @return the title
     */
    String title();

    /**
     * The config.json {@code model_type} values this architecture reads; the first is the one it writes.
     *
     * @return the model types, at least one
     */
    List<String> modelTypes();

    /**
     * The config.json of a small model: vocabulary, width, layers and heads (architectures without heads ignore
     * {@code heads} where it does not apply). Throws IllegalArgumentException naming the bad size.
     *
     * @param vocab the vocabulary size
     * @param dim the model width
     * @param layers the number of layers
     * @param heads the number of heads
     * @return the config.json text
     * @throws IllegalArgumentException naming a size that the architecture cannot take
     */
    String smallConfig(int vocab, int dim, int layers, int heads);

    /**
     * Builds a freshly initialised model from its config.json text; the error names every bad field.
     *
     * @param configJson the config.json text
     * @param seed the seed of the initial weights
     * @return the model, its parameters in the root scope
     * @throws IllegalArgumentException naming every bad field
     */
    LanguageModel build(String configJson, long seed);

    /**
     * Tensor names and layouts of the reference implementation's checkpoints (Hugging Face) from ours. The
     * default is the identity: our parameter names are already the reference ones. Architectures whose layout
     * differs (fused projections, different prefixes) override both directions, which must be inverse.
     *
     * @param ours our tensors by name
     * @param configJson the model's config.json text
     * @return the tensors by reference name
     */
    default Map<String, Tensor> toReference(Map<String, Tensor> ours, String configJson) {
        return ours;
    }

    /**
     * Inverse of {@link #toReference}.
     *
     * @param theirs the reference checkpoint's tensors by name
     * @param configJson the model's config.json text
     * @return the tensors by our names
     */
    default Map<String, Tensor> fromReference(Map<String, Tensor> theirs, String configJson) {
        return theirs;
    }

    /**
     * The config.json that the reference implementation reads, for a checkpoint in its layout whose tensors are stored
     * as {@code dtype} (null: as the model holds them, {@code modelDtype}). The default is our own config.json, whose
     * field names are already the reference's; architectures whose reference code needs other or more fields (class
     * names, derived lists) override it. The result must still load here ({@link #build}).
     *
     * @param configJson our config.json text
     * @param dtype the dtype of the checkpoint's tensors, or null
     * @return the reference's config.json text
     */
    default String referenceConfig(String configJson, fulgur.tensor.DType dtype) {
        return configJson;
    }
}
