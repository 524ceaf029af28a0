package fulgur.backend;

import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The tensor primitives and fused NN ops of one device: what every device must provide for any model to run. Methods
 * take and return tensors of this backend's device, never record autograd (the ops layer does), accept any strides
 * unless noted, and return new contiguous tensors in the current scope. Floating inputs of bf16/f16 compute in f32
 * and return their own dtype unless noted.
 *
 * <p>What is not here: a device's runtime (graph capture, deferred checks, memory statistics: {@link DeviceRuntime});
 * kernels that only speed up a composition of these methods (op families such as lightning attention, GLA, the
 * fused SiLU gate, the AdamW update: declared by the family, registered per device in {@link Kernels}); anything
 * composed from these (concatenation is empty + copy, the embedding gradient is {@link #indexAdd}). The interface stays
 * small on purpose (at most 25 methods): a new device implements it once, then adds family kernels one by one.
 */
public interface Backend {

    Device device();

    /** Uninitialised contiguous storage. */
    Tensor empty(DType dtype, int[] shape);

    /** dst ← src elementwise (same shape), converting dtype and, where supported, device. */
    void copy(Tensor src, Tensor dst);

    void fill(Tensor dst, double value);

    /**
     * dst ← dst + src in place (same shape, any strides, dst not overlapping src), rounded as {@link #binary}
     * rounds {@code ADD} into dst's dtype. The autograd engine accumulates gradients with it. This default goes
     * through a temporary; backends write in place.
     */
    default void addInto(Tensor dst, Tensor src) {
        copy(binary(BinaryOp.ADD, dst, src), dst);
    }

    Tensor unary(UnaryOp op, Tensor x, double param);

    /** dx for y = op(x) given dy (x and y as in the forward; y may be null for ops that do not use it). */
    Tensor unaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor dy, double param);

    /** a op b with numpy broadcasting. Result dtype: the common floating type (or a's when both are integer). */
    Tensor binary(BinaryOp op, Tensor a, Tensor b);

    /** Reduction over {@code axes} (already normalised, distinct); keepDims keeps them as size 1. */
    Tensor reduce(ReduceOp op, Tensor x, int[] axes, boolean keepDims);

    /** Index (i64) of the max (or min) along {@code axis}. Ties give the first index. */
    Tensor argReduce(boolean max, Tensor x, int axis, boolean keepDim);

    /**
     * Batched matrix product op(a)·op(b) over the last two dimensions with broadcast batch dimensions; op transposes
     * when the flag is set. Accumulates in f32 (f64 when an input is f64). The result has {@code outDtype}, or by
     * default (null) the inputs' common dtype: bf16·bf16 gives bf16 rounded once from the f32 accumulator; ask for
     * {@link DType#F32} to keep the accumulator's precision.
     */
    Tensor matmul(Tensor a, Tensor b, boolean transA, boolean transB, DType outDtype);

    /** Softmax (or log-softmax) over the last axis. */
    Tensor softmax(Tensor x, boolean log);

    /** dx from y = softmax(x) (or log-softmax) and dy, over the last axis. */
    Tensor softmaxBackward(Tensor y, Tensor dy, boolean log);

    /**
     * Mean cross-entropy over rows of {@code logits} [N, V] against integer {@code targets} [N], skipping rows whose
     * target is {@code ignoreIndex}, with label smoothing ε (target distribution (1−ε)·onehot + ε/V). Returns a
     * scalar f32 tensor; 0 when every row is ignored.
     */
    Tensor crossEntropy(Tensor logits, Tensor targets, int ignoreIndex, double smoothing);

    /**
     * d(loss)/d(logits) scaled by {@code gradOut}, the upstream gradient: a one-element floating tensor on the logits'
     * device, read by the device (no host sync).
     */
    Tensor crossEntropyBackward(Tensor logits, Tensor targets, int ignoreIndex, double smoothing, Tensor gradOut);

    /**
     * Rows of weight [V, D] picked by integer ids of any shape → [..., D]; ids out of range are an error. Its gradient is
     * {@link #indexAdd} of the output gradient rows at the ids.
     */
    Tensor embedding(Tensor weight, Tensor ids);

    /**
     * RMSNorm ({@code rms}) or LayerNorm over the last axis: y = (x − μ) / sqrt(var + eps) (· weight) (+ bias), where
     * RMSNorm takes μ = 0 and var = mean(x²) and has no bias. Returns {y, mean (null for RMSNorm), rstd}, the statistics
     * [..., 1] for the backward in the compute type (f64 for f64 inputs, else f32). One method for both, as fused norm
     * kernels are one kernel with a flag.
     */
    Tensor[] norm(Tensor x, Tensor weight, Tensor bias, double eps, boolean rms);

    /**
     * Gradients {dx, dweight, dbias} of {@link #norm} (null where the parameter is null); {@code mean} null means
     * RMSNorm. When {@code addend} is not null (x's shape and dtype), dx = addend + the norm's input gradient: the
     * gradient a residual stream has summed so far for x, added as dx is written and rounded once.
     */
    Tensor[] normBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, boolean hasBias, Tensor addend);

    /** out[i][j][k] = x[i][index[i][j][k]][k] for axis 1 (torch.gather). index has x's rank. */
    Tensor gather(Tensor x, int axis, Tensor index);

    /** A zero tensor of {@code shape} with src scatter-added at index along axis (the backward of gather). */
    Tensor scatterAdd(int[] shape, int axis, Tensor index, Tensor src);

    /** Slices of x along axis at the integer positions in a 1-D index. */
    Tensor indexSelect(Tensor x, int axis, Tensor index);

    /** A zero tensor of {@code shape} with src's slices added at index along axis (the backward of indexSelect). */
    Tensor indexAdd(int[] shape, int axis, Tensor index, Tensor src);

    /** cond ≠ 0 ? a : b, broadcast. */
    Tensor where(Tensor cond, Tensor a, Tensor b);

    /** Inclusive cumulative sum along axis (reverse: from the end). */
    Tensor cumsum(Tensor x, int axis, boolean reverse);

    /** A mask of 0 or 1/(1−p) values (x's dtype and shape), drawn from the counter-based stream. */
    Tensor dropoutMask(Tensor like, double p, long stream);
}
