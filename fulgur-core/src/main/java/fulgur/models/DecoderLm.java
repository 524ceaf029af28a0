package fulgur.models;

import fulgur.autograd.GradMode;
import fulgur.autograd.Recompute;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.ops.LinearAlgebra;
import fulgur.ops.Losses;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;

/**
 * What the decoder-only language models of the zoo share around their own layers: token ids in, final-normalised
 * hidden states out of {@link #hidden}, logits through the output projection (the embedding when tied), and the
 * training loss with projection and cross-entropy fused in chunks ({@link Losses#linearCrossEntropy}), so the
 * [tokens, vocab] logits never exist during training. Subclasses add their layers, cache type and config.
 */
public abstract class DecoderLm extends Module implements LanguageModel {
    private boolean checkpointing;

    /** A model without layers yet: the subclass registers its embedding, layers and norms as it constructs. */
    protected DecoderLm() {}

    /**
     * Token ids [B, T] → the final-normalised hidden states [B, T, width]. {@code cache} is null or this model's
     * own cache (checked by {@link #ownsCache}), which the call continues from and advances; {@code shard} places the
     * tokens in a longer sequence (models without sequence parallelism reject anything but the whole sequence).
     *
     * @param ids token ids [B, T]
     * @param cache this model's cache, or null
     * @param shard where the tokens sit in the whole sequence
     * @return the hidden states [B, T, width]
     */
    protected abstract Tensor hidden(Tensor ids, DecodeCache cache, SequenceShard shard);

    /**
     * The output projection [vocab, width].
     *
     * @return the weight
     */
    protected abstract Tensor outputWeight();

    /**
     * Whether {@code cache} is one this model made ({@link #newCache}).
     *
     * @param cache a cache
     * @return true when this model made it
     */
    protected abstract boolean ownsCache(DecodeCache cache);

    /**
     * Extra training-loss terms of the last forward (e.g. MoE load balancing), added to the cross-entropy; null if
     * none.
     *
     * @return the extra loss, a scalar, or null
     */
    protected Tensor auxiliaryLoss() {
        return null;
    }

    @Override
    public Module module() {
        return this;
    }

    @Override
    public Tensor forward(Tensor ids) {
        return forward(ids, SequenceShard.WHOLE);
    }

    /**
     * Token ids of one slice of longer sequences (positions from {@code shard.positionOffset()}) → logits.
     *
     * @param ids token ids [B, T]
     * @param shard where they sit in the whole sequence
     * @return logits [B, T, vocab]
     */
    public Tensor forward(Tensor ids, SequenceShard shard) {
        return project(hidden(checkIds(ids), null, shard));
    }

    /** Hidden states → logits through the output projection (an int8 lm_head through its own layer). */
    private Tensor project(Tensor h) {
        Tensor w = outputWeight();
        if (w.dtype() == DType.I8 && namedModules().get("lm_head") instanceof Linear head) {
            return head.forward(h);
        }
        return LinearAlgebra.linear(h, w, null);
    }

    @Override
    public Tensor forward(Tensor ids, DecodeCache cache) {
        return project(hidden(checkIds(ids), checkCache("forward", cache), SequenceShard.WHOLE));
    }

    /** Projects only the last position of each row to the vocabulary. */
    @Override
    public Tensor lastLogits(Tensor ids, DecodeCache cache) {
        Tensor h = hidden(checkIds(ids), checkCache("lastLogits", cache), SequenceShard.WHOLE);
        Tensor last = h.size(1) == 1 ? Views.reshape(h, h.size(0), h.size(2)) : Views.select(h, 1, h.size(1) - 1);
        return project(last);
    }

    private DecodeCache checkCache(String op, DecodeCache cache) {
        if (!ownsCache(cache)) {
            throw new IllegalArgumentException(
                    getClass().getSimpleName() + "." + op + ": expected a cache from this model's newCache(), got "
                            + (cache == null ? "null" : cache.getClass().getSimpleName()));
        }
        return cache;
    }

    /** Mean next-token cross-entropy of inputs [B, T] against targets (−100 ignored), plus any auxiliary loss. */
    @Override
    public Tensor loss(Tensor inputs, Tensor targets) {
        return loss(inputs, targets, SequenceShard.WHOLE);
    }

    @Override
    public Tensor loss(Tensor inputs, Tensor targets, SequenceShard shard) {
        if (outputWeight().dtype() == DType.I8) {
            throw new UnsupportedOperationException(getClass().getSimpleName()
                    + ": int8 weights serve inference only; train from the unquantized checkpoint");
        }
        Tensor h = hidden(checkIds(inputs), null, shard);
        Tensor ce = Losses.linearCrossEntropy(
                h,
                outputWeight(),
                targets,
                Losses.IGNORE_INDEX,
                0,
                Losses.linearCrossEntropyChunk(vocabSize(), h.dtype()));
        Tensor weight = shard.carry() == null ? null : shard.carry().lossWeight();
        if (weight != null) { // a chunk's share of the whole sequence's mean
            ce = ce.mul(weight.dtype() == ce.dtype() ? weight : weight.to(ce.dtype()));
        }
        Tensor aux = auxiliaryLoss();
        return aux == null ? ce : ce.add(aux);
    }

    @Override
    public void advanceStates(Tensor inputs, SequenceShard shard) {
        if (shard.carry() == null) {
            throw new IllegalArgumentException(
                    getClass().getSimpleName() + ".advanceStates: the shard has no state carry to leave the states in");
        }
        hidden(checkIds(inputs), null, shard);
    }

    /** Every model of the zoo carries its layers' states from one chunk of a sequence to the next. */
    @Override
    public boolean carriesStates() {
        return true;
    }

    @Override
    public void checkpointActivations(boolean on) {
        this.checkpointing = on;
    }

    /**
     * The forward of one layer ({@code owner}, whose parameters it reads) on x: checkpointed ({@link Recompute}) when
     * activation checkpointing is on, gradients are recorded and the call covers a whole sequence on this device
     * without a cache; a plain call otherwise.
     *
     * @param layer the layer's forward
     * @param x its input [B, T, width]
     * @param cache the forward's cache, or null
     * @param shard the forward's shard
     * @param owner the layer's module
     * @return the layer's output
     */
    protected final Tensor layer(
            java.util.function.UnaryOperator<Tensor> layer,
            Tensor x,
            DecodeCache cache,
            SequenceShard shard,
            Module owner) {
        return layerWithOutputs(y -> new Tensor[] {layer.apply(y)}, x, cache, shard, owner)[0];
    }

    /**
     * {@link #layer} for a layer with further outputs after the hidden states (e.g. a router's auxiliary loss).
     *
     * @param layer the layer's forward, returning the hidden states first
     * @param x its input [B, T, width]
     * @param cache the forward's cache, or null
     * @param shard the forward's shard
     * @param owner the layer's module
     * @return the layer's outputs
     */
    protected final Tensor[] layerWithOutputs(
            java.util.function.Function<Tensor, Tensor[]> layer,
            Tensor x,
            DecodeCache cache,
            SequenceShard shard,
            Module owner) {
        if (!checkpointing || cache != null || !shard.isWhole() || !GradMode.isEnabled()) {
            return layer.apply(x);
        }
        return Recompute.apply(
                layer,
                x,
                owner.parameters().stream().map(fulgur.nn.Parameter::value).toList());
    }

    /**
     * Whether a forward with this cache and shard runs its layers checkpointed (keeping none of their intermediate
     * tensors).
     *
     * @param cache the forward's cache, or null
     * @param shard the forward's shard
     * @return true when the layers run checkpointed
     */
    protected final boolean checkpointing(DecodeCache cache, SequenceShard shard) {
        return checkpointing && cache == null && shard.isWhole() && GradMode.isEnabled();
    }

    private Tensor checkIds(Tensor ids) {
        if (ids.ndim() != 2) {
            throw new IllegalArgumentException(
                    getClass().getSimpleName() + ".forward: expected token ids [B, T], got " + ids.describe());
        }
        return ids;
    }

    /**
     * For models without sequence parallelism: one device (a chunk with carried states is fine).
     *
     * @param shard the forward's shard
     * @throws UnsupportedOperationException when the shard spans several ranks
     */
    protected final void requireLocal(SequenceShard shard) {
        if (!shard.isLocal()) {
            throw new UnsupportedOperationException(
                    getClass().getSimpleName() + " does not support sequence parallelism");
        }
    }
}
