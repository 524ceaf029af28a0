package fulgur.backend;

import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The kernels of one device. Methods take and return tensors of this backend's device, never record autograd
 * (the ops layer does), accept any strides unless noted, and return new contiguous tensors in the current scope.
 * Floating inputs of bf16/f16 compute in f32 and return their own dtype unless noted.
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

    /**
     * Weight-only int8 matrix product: x [M, K] (f32, contiguous) times (diag(scale)·q)ᵀ with q [N, K] i8 and scale [N]
     * f32 (both contiguous), on this device → [M, N] f32 (arguments already validated). Kernels widen the weights a
     * tile at a time; the int8 matrix is never converted back to f32 as a whole.
     */
    default Tensor matmulInt8(Tensor x, Tensor q, Tensor scale) {
        throw new UnsupportedOperationException("int8 matrix products: no kernel on " + device());
    }

    /** Softmax (or log-softmax) over the last axis. */
    Tensor softmax(Tensor x, boolean log);

    /** dx from y = softmax(x) (or log-softmax) and dy, over the last axis. */
    Tensor softmaxBackward(Tensor y, Tensor dy, boolean log);

    /**
     * {@code silu(gate) ⊙ up} (gated feed-forwards: SwiGLU). Backends fuse it into one pass; this default
     * composes the unary and binary ops (and broadcasts like {@link #binary}).
     */
    default Tensor siluMul(Tensor gate, Tensor up) {
        return binary(BinaryOp.MUL, unary(UnaryOp.SILU, gate, 0), up);
    }

    /** Gradients of {@link #siluMul} for gradient {@code dy} of its output: {d gate, d up}, before any broadcast reduction. */
    default Tensor[] siluMulBackward(Tensor gate, Tensor up, Tensor dy) {
        Tensor s = unary(UnaryOp.SILU, gate, 0);
        return new Tensor[] {unaryBackward(UnaryOp.SILU, gate, s, binary(BinaryOp.MUL, dy, up), 0), binary(BinaryOp.MUL, dy, s)};
    }

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

    /** Rows of weight [V, D] picked by integer ids of any shape → [..., D]; ids out of range are an error. */
    Tensor embedding(Tensor weight, Tensor ids);

    /** Scatter-add of dOut [..., D] rows into a zero [vocab, D] gradient at {@code ids}. */
    Tensor embeddingBackward(Tensor dOut, Tensor ids, int vocab);

    /**
     * RMSNorm over the last axis: y = x / sqrt(mean(x²) + eps) (· gain when gain is not null).
     * Returns {y, rstd} with rstd [..., 1] for the backward, in the compute type (f64 for f64 inputs, else f32).
     */
    Tensor[] rmsNorm(Tensor x, Tensor gain, double eps);

    /** Returns {dx, dgain (null when gain is null)}. */
    Tensor[] rmsNormBackward(Tensor x, Tensor gain, Tensor rstd, Tensor dy);

    /** LayerNorm over the last axis with optional weight and bias: returns {y, mean, rstd} (statistics as in rmsNorm). */
    Tensor[] layerNorm(Tensor x, Tensor weight, Tensor bias, double eps);

    /** Returns {dx, dweight, dbias} (null where the parameter is null). */
    Tensor[] layerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, boolean hasBias);

    /** Concatenation along {@code axis} (shapes equal elsewhere, same dtype). */
    Tensor concat(Tensor[] xs, int axis);

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

    /**
     * One fused AdamW update in place: param (contiguous), its gradient, first and second moments (same shape, f32 or
     * f64). The values that change from step to step come from {@code schedule}, an f64 tensor [3] on the parameter's
     * device holding the learning rate, 1 − β₁ᵗ and 1 − β₂ᵗ ({@link fulgur.optim.AdamW} writes it before each step),
     * so that a captured step replays with each step's values; the learning rate applied is schedule[0] · lrScale.
     */
    void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor schedule, double lrScale, double beta1, double beta2, double eps,
            double weightDecay);

    /** One parameter of {@link #adamwAll}: its tensors (as for {@link #adamw}) and its group's lr scale and weight decay. */
    record AdamWSlot(Tensor param, Tensor grad, Tensor m, Tensor v, double lrScale, double weightDecay) {}

    /**
     * {@link #adamw} on every slot with one schedule and one set of betas: a multi-tensor update that a backend may run
     * as a single launch over all parameters (the CUDA backend does for f32 parameters). Default: one adamw per slot.
     */
    default void adamwAll(java.util.List<AdamWSlot> slots, Tensor schedule, double beta1, double beta2, double eps) {
        for (AdamWSlot s : slots) {
            adamw(s.param(), s.grad(), s.m(), s.v(), schedule, s.lrScale(), beta1, beta2, eps, s.weightDecay());
        }
    }

    /**
     * The most memory this backend's tensors have held at once since the start (or the last
     * {@link #resetPeakMemory()}), in bytes: the device allocator's peak on a GPU, the host allocator's on the CPU.
     */
    default long peakMemoryBytes() {
        return fulgur.tensor.HostAllocator.peakBytesInUse();
    }

    /** Starts a new peak for {@link #peakMemoryBytes()} from what is held now. */
    default void resetPeakMemory() {
        fulgur.tensor.HostAllocator.resetPeak();
    }

    // ---------------------------------------------------------------- deferred checks and captured steps

    /**
     * Defers this backend's checks of device values (index bounds of embeddings, cross-entropy targets, gathers) until
     * the returned scope closes, which waits for the device and throws the first failure: the work inside never waits
     * for the device. Nested scopes check when the outermost closes. The CPU backend checks at once (no-op here).
     */
    default DeferredChecks deferChecks() {
        return DeferredChecks.NONE;
    }

    /**
     * Records the device work that {@code body} enqueues, without running it, as a graph that {@link StepGraph#replay()}
     * runs again with whatever the buffers it reads hold then. The body must not read device values on the host; host
     * data it uploads is recorded as a constant. Only the CUDA backend captures (CUDA graphs).
     */
    default StepGraph capture(Runnable body) {
        throw new UnsupportedOperationException("the " + device() + " backend cannot capture a step as a graph; CUDA graphs need a cuda device");
    }

    // ---------------------------------------------------------------- lightning attention

    /**
     * The kernels behind {@link fulgur.ops.lightning.Lightning#chunked} (which keeps the autograd logic): q, k
     * [B, T, H, dk] and v [B, T, H, dv] on this device, an optional initial state [N, H, dk, dv] (N = B, or the number
     * of packed sequences when {@code cuSeqlens} is given; arguments already validated). Returns one flat tensor: the
     * output [B, T, H, dv] followed, when {@code wantFinalState}, by the final state [N, H, dk, dv]. Its dtype is the
     * backend's choice (the wrapper converts the output to q's dtype); with a final state it is f32 (f64 for f64).
     */
    default Tensor lightningForward(Tensor q, Tensor k, Tensor v, double[] slopes, double scale, Tensor initialState,
                                    boolean wantFinalState, int blockSize, int[] cuSeqlens) {
        throw new UnsupportedOperationException("lightning attention: no kernel on " + device());
    }

    /**
     * Gradients {dq, dk, dv, dInitialState (null without an initial state)} of {@link #lightningForward} from the
     * gradient of its packed result (same length; any floating dtype).
     */
    default Tensor[] lightningBackward(Tensor q, Tensor k, Tensor v, double[] slopes, double scale, Tensor initialState,
                                       boolean wantFinalState, int blockSize, int[] cuSeqlens, Tensor packedGrad) {
        throw new UnsupportedOperationException("lightning attention: no kernel on " + device());
    }

    /**
     * Decoding kernel behind {@link fulgur.ops.lightning.Lightning#recurrent}: consumes the T tokens of q, k, v, advances
     * {@code state} [B, H, dk, dv] (f32 or f64, contiguous) in place and returns the outputs [B, T, H, dv] in the state's
     * dtype. No gradients.
     */
    default Tensor lightningRecurrent(Tensor q, Tensor k, Tensor v, double[] slopes, double scale, Tensor state) {
        throw new UnsupportedOperationException("lightning attention: no kernel on " + device());
    }

    // ---------------------------------------------------------------- LCSM scan

    /**
     * The kernel behind {@link fulgur.ops.lcsm.Lcsm#scan}: m_t = exp(logO_t) ⊙ m_{t−1} + e_t ⊙ (1 i_tᵀ),
     * y_t = Σ_k s_t ⊙ m_t, with i [B, T, d], e, logO, s [B, T, k, d] (possibly broadcast views), m0 [B, k, d] or
     * null (zero), all of i's dtype (validated). Returns one flat tensor in i's dtype: y [B, T, d] then m_T [B, k, d].
     * The default composes other backend ops token by token.
     */
    default Tensor lcsmScanForward(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0) {
        return fulgur.ops.lcsm.LcsmKernels.forward(i, e, logO, s, m0);
    }

    /**
     * Gradients {di [B, T, d], de, dlogO, ds (each [B, T, k, d], unreduced over broadcast axes), dm0 (null when m0 is
     * null)} of {@link #lcsmScanForward} from the gradient of its packed result.
     */
    default Tensor[] lcsmScanBackward(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0, Tensor packedGrad) {
        return fulgur.ops.lcsm.LcsmKernels.backward(i, e, logO, s, m0, packedGrad);
    }
    // ---------------------------------------------------------------- LightNet

    /**
     * The fused kernel behind {@link fulgur.ops.lightnet.LightNet#apply}: q, k [B, T, H, dk], v [B, T, H, dv] and an
     * optional initial state (s0 [B, H, dk, dv], z0 [B, H, dk], both or neither; validated). Returns one flat tensor:
     * output [B, T, H, dv], final S, final z, in f32 (f64 for f64 inputs) — or null when this backend has no kernel,
     * in which case the op is composed from the other backend methods (so every backend runs it).
     */
    default Tensor lightnetForward(Tensor q, Tensor k, Tensor v, Tensor s0, Tensor z0) {
        return null;
    }

    /** Gradients {dq, dk, dv, ds0, dz0} of {@link #lightnetForward} from the packed gradient; null without a kernel. */
    default Tensor[] lightnetBackward(Tensor q, Tensor k, Tensor v, Tensor s0, Tensor z0, Tensor packedGrad) {
        return null;
    }
    // ---------------------------------------------------------------- gated linear attention

    /**
     * Intra-chunk scores of {@link fulgur.ops.gla.Gla#chunked}: q, k and the within-chunk cumulative log-decay b, all
     * {@code [..., C, dk]} on this device (same shape, same floating dtype) → A {@code [..., C, C]} with
     * A[i,j] = Σ_c q[i,c] k[j,c] exp(b[i,c] − b[j,c]) for j ≤ i and 0 above the diagonal, in f32 (f64 for f64). The
     * default composes other ops of this backend; the CPU backend fuses it.
     */
    default Tensor glaIntraScores(Tensor q, Tensor k, Tensor b) {
        return fulgur.ops.gla.GlaIntra.composed(q, k, b);
    }

    /** Gradients {dq, dk, db} of {@link #glaIntraScores} from dA {@code [..., C, C]}. */
    default Tensor[] glaIntraScoresBackward(Tensor q, Tensor k, Tensor b, Tensor dA) {
        return fulgur.ops.gla.GlaIntra.composedBackward(q, k, b, dA);
    }
}
