package fulgur.ops.conv;

import fulgur.tensor.Tensor;

/**
 * The kernels of the short causal depthwise convolution over time on one device (fla's {@code causal_conv1d}, the
 * short convolutions of MetaLA, HGRN2 and GLA layers): y_t = act(Σ_j w[:, j] ⊙ x_{t−(K−1)+j} + bias), the K − 1
 * positions before the input taken from a tail (zeros when there is none). {@link ShortConvolution} keeps the autograd
 * logic and validates the arguments. Registered per device kind in {@link fulgur.backend.Kernels}; without one,
 * {@link ShortConvolution} composes it from K shifted products.
 *
 * <p>Arguments: x {@code [B, T, D]}, weight {@code [D, K]}, bias {@code [D]} or null, tail {@code [B, K−1, D]} or null,
 * on the kernel's device, one floating dtype (the tail may differ); {@code silu} applies SiLU to the result.
 */
public interface ShortConvKernels {

    /**
     * Whether this device's kernels take these arguments (dtypes, kernel size); where they do not, the op runs its
     * composed form. Every argument combination by default.
     */
    default boolean supports(Tensor x, Tensor weight) {
        return true;
    }

    /** y [B, T, D] in x's dtype. */
    Tensor forward(Tensor x, Tensor weight, Tensor bias, Tensor tail, boolean silu);

    /** Gradients {dx, dweight, dbias (null without bias), dtail (null without tail)} for the gradient dy of y. */
    Tensor[] backward(Tensor x, Tensor weight, Tensor bias, Tensor tail, boolean silu, Tensor dy);

    /**
     * Decoding: y for the T new positions of x (often one), advancing {@code tail} [B, K−1, D] (contiguous) in place to
     * the last K − 1 inputs. No gradients.
     */
    Tensor decode(Tensor x, Tensor weight, Tensor bias, Tensor tail, boolean silu);
}
