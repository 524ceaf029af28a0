package fulgur.models;

import fulgur.nn.Module;
import fulgur.tensor.Tensor;

/** A causal language model the trainer and the generator can drive, whatever its architecture. */
public interface CausalLM {

    /** The parameter tree (for optimizers and checkpoints). */
    Module module();

    int vocabSize();

    /** Token ids [B, T] → logits [B, T, vocab]. */
    Tensor forward(Tensor ids);

    /** Logits for new tokens, continuing from (and advancing) a decoding cache. */
    Tensor forward(Tensor ids, DecodeCache cache);

    /** Mean next-token cross-entropy, targets −100 ignored. */
    Tensor loss(Tensor inputs, Tensor targets);

    DecodeCache newCache();

    /** The model's config.json text (architecture-specific field names). */
    String configJson();
}
