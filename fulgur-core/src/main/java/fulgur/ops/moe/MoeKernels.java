package fulgur.ops.moe;

import fulgur.tensor.DType;
import fulgur.tensor.Tensor;

/**
 * The kernels of a whole sparse mixture-of-experts feed-forward on one device, with no host reads, so that a training
 * step with MoE layers can be captured as a CUDA graph: routing (the top k experts of each token by router logit, ties
 * to the lower index; gates softmax(logits) or σ(logits) at the picked experts, optionally renormalised over the k),
 * per-expert row counts and offsets on the device, the tokens' rows grouped by expert (stable in token order), every
 * expert's gated FFN w2(SiLU(w1 x) ⊙ w3 x) on exactly its rows (drop-less: no capacity, no padding), and the
 * gate-weighted sum of each token's k expert outputs; forward and backward. {@link Moe#layer} keeps the autograd logic;
 * the load-balancing loss is composed around it from the device counts. Registered per device kind in
 * {@link fulgur.backend.Kernels}; without a kernel for the arguments, {@code fulgur.layers.MoeFeedForward} composes the
 * layer (grouping on the host and one product per expert; dense over every expert while a step is being captured).
 *
 * <p>Arguments: x [N, D] and the router logits [N, E] (floating), the experts' weights stacked as w1, w3 [E, F, D] and
 * w2 [E, D, F] (each the layout of the expert's Linear weight), on the kernel's device.
 */
public interface MoeKernels {

    /** How tokens are routed: {@code topK} experts each, σ gates instead of softmax ones, renormalised over the k. */
    record Routing(int topK, boolean sigmoid, boolean normalizeTopK) {
        public Routing {
            if (topK < 1) {
                throw new IllegalArgumentException("MoeKernels.Routing: topK must be ≥ 1, got " + topK);
            }
        }
    }

    /**
     * What {@link #forward} returns: the layer's output [N, D] (x's dtype), the number of (token, slot) pairs routed to
     * each expert (i32 [E] on the device) and what {@link #backward} reads (null when no backward was asked for).
     */
    record Forward(Tensor out, Tensor counts, AutoCloseable saved) {}

    /**
     * Whether this device's kernels take a layer of x [N, D], logits [N, E], experts of hidden size {@code hidden} with
     * weights of dtype {@code weights}; the layer is composed otherwise.
     */
    default boolean supports(Tensor x, Tensor logits, DType weights, int hidden, Routing routing) {
        return true;
    }

    /** The layer's forward; with {@code saveForBackward} it keeps what {@link #backward} needs. */
    Forward forward(Tensor x, Tensor logits, Tensor w1, Tensor w3, Tensor w2, Routing routing, boolean saveForBackward);

    /**
     * Gradients {dx, d logits, dw1, dw3, dw2} for the gradient {@code dOut} [N, D] of the output (the gates' share of d
     * logits; the load-balancing loss's is added by autograd). Frees the state the forward saved: one backward per
     * forward.
     */
    Tensor[] backward(
            Tensor x, Tensor logits, Tensor w1, Tensor w3, Tensor w2, Routing routing, Forward forward, Tensor dOut);
}
