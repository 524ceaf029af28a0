package fulgur.ops.lightning;

import fulgur.backend.cpu.Parallel;
import java.lang.foreign.MemorySegment;

/**
 * Lightning Attention-2 on the CPU: the training kernel, forward and hand-written backward.
 *
 * <p>Per sequence and head, with λ = exp(−slope), initial state S₀ (zero when absent):
 * {@code S_t = λ S_{t−1} + k_tᵀ v_t}, {@code o_t = scale · q_t S_t}. The sequence is cut into blocks of
 * {@code blockSize} tokens (the last one may be shorter); within a block of n tokens, i, j = 0..n−1, with S the state
 * entering the block:
 * <pre>
 *   O   = ((Q Kᵀ) ⊙ D) V + diag(λ^{i+1}) Q S          D[i][j] = λ^{i−j} (j ≤ i), 0 otherwise; times scale
 *   S'  = λ^n S + (diag(λ^{n−1−j}) K)ᵀ V
 * </pre>
 * Backward, with G = dO: pass 1 (blocks ascending, state recomputed) gives
 * {@code dQ = ((G Vᵀ)⊙D) K + diag(λ^{i+1}) G Sᵀ}, {@code dK = ((G Vᵀ)⊙D)ᵀ Q}, {@code dV = ((Q Kᵀ)⊙D)ᵀ G};
 * pass 2 (blocks descending) carries dS' (starting at dFinalState, or zero) and adds
 * {@code dK += diag(λ^{n−1−j}) V dS'ᵀ}, {@code dV += diag(λ^{n−1−j}) K dS'}, then
 * {@code dS = λ^n dS' + (diag(λ^{i+1}) Q)ᵀ G} (times scale); the dS left after block 0 is dInitialState.
 * Every decay factor is {@code exp(−slope·x)} for 0 ≤ x ≤ blockSize, never a negative power.
 *
 * <p>Precision: f32 inputs, f32 state and f32 accumulation (the {@code F64} variants: all f64, scalar loops of the
 * same algorithm, meant for gradient checks). Layouts as in {@link LightningShape}: q, k {@code [B,T,H,dk]};
 * v, o {@code [B,T,H,dv]}; states {@code [B,H,dk,dv]}. With {@code cuSeqlens} (batch must be 1) the T axis packs N
 * sequences, {@code cuSeqlens = [0, c₁, …, T]}, the state is reset at every boundary, and initial/final states are
 * per sequence {@code [N,H,dk,dv]}. Nullable: cuSeqlens, initialState, finalState, dFinalState, dInitialState.
 * Outputs are overwritten, never accumulated into.
 *
 * <p>Work is spread over (sequence, head) pairs with {@link Parallel#forRange}; each thread reuses its scratch.
 * Segments are therefore read and written from pool threads: they must come from a global, automatic or shared
 * arena (a confined arena's segments throw {@code WrongThreadException} there). Value-dim tiles are not split across
 * threads: with fewer (sequence, head) pairs than threads some cores stay idle.
 *
 * <p>Timing: {@code LightningTiming} in the test sources times these entry points standalone (no JMH).
 */
public final class LightningChunked {

    /** Default block size (as in the official forward and backward kernels). */
    public static final int DEFAULT_BLOCK = 64;

    private LightningChunked() {}

    /** Everything one call works on; {@code null} for absent optional tensors. */
    record Args(
            LightningShape shape,
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            double[] slopes,
            double scale,
            int blockSize,
            int[] cuSeqlens,
            MemorySegment s0,
            MemorySegment out,
            MemorySegment sT,
            MemorySegment dOut,
            MemorySegment dsT,
            MemorySegment dq,
            MemorySegment dk,
            MemorySegment dv,
            MemorySegment ds0) {

        int sequences() {
            return shape.sequences(cuSeqlens);
        }

        /** First token row (b·T + t) of sequence {@code seq}. */
        long row0(int seq) {
            return cuSeqlens == null ? (long) seq * shape.seqLen() : cuSeqlens[seq];
        }

        int length(int seq) {
            return cuSeqlens == null ? shape.seqLen() : cuSeqlens[seq + 1] - cuSeqlens[seq];
        }

        long stateOffset(int seq, int h) {
            return ((long) seq * shape.heads() + h) * shape.dk() * shape.dv();
        }

        /** Longest sequence: blocks never need to be longer. */
        int maxLength() {
            if (cuSeqlens == null) {
                return shape.seqLen();
            }
            int max = 0;
            for (int i = 0; i + 1 < cuSeqlens.length; i++) {
                max = Math.max(max, cuSeqlens[i + 1] - cuSeqlens[i]);
            }
            return max;
        }
    }

    // ------------------------------------------------------------------------------------------------- f32 API

    /** Forward with the defaults: scale 1, block 64, one sequence per batch row, no initial or final state. */
    public static void forward(
            LightningShape shape,
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            double[] slopes,
            MemorySegment out) {
        forward(shape, q, k, v, slopes, 1.0, DEFAULT_BLOCK, null, null, out, null);
    }

    /**
     * Forward: writes {@code out} {@code [B,T,H,dv]} and, when non-null, {@code finalState} (the state after each
     * sequence's last token). All segments hold native-order f32.
     */
    public static void forward(
            LightningShape shape,
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            double[] slopes,
            double scale,
            int blockSize,
            int[] cuSeqlens,
            MemorySegment initialState,
            MemorySegment out,
            MemorySegment finalState) {
        Args c = new Args(
                shape,
                q,
                k,
                v,
                slopes,
                scale,
                blockSize,
                cuSeqlens,
                initialState,
                out,
                finalState,
                null,
                null,
                null,
                null,
                null,
                null);
        validateForward("lightning.chunked.forward", c, Float.BYTES);
        int blk = Math.min(blockSize, Math.max(1, c.maxLength()));
        runUnits(c, (u0, u1) -> {
            ChunkedF32 kernel = ChunkedF32.forThread(blk, shape.dk(), shape.dv());
            for (int u = u0; u < u1; u++) {
                int seq = u / shape.heads(), h = u % shape.heads();
                kernel.forward(c, c.row0(seq), c.length(seq), h, c.stateOffset(seq, h));
            }
        });
    }

    /**
     * Backward: given {@code dOut} and (nullable) {@code dFinalState}, writes {@code dq}, {@code dk}, {@code dv} and,
     * when non-null, {@code dInitialState}. The forward's inputs are passed again (states are recomputed, nothing
     * is saved between the two calls).
     */
    public static void backward(
            LightningShape shape,
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            double[] slopes,
            double scale,
            int blockSize,
            int[] cuSeqlens,
            MemorySegment initialState,
            MemorySegment dOut,
            MemorySegment dFinalState,
            MemorySegment dq,
            MemorySegment dk,
            MemorySegment dv,
            MemorySegment dInitialState) {
        Args c = new Args(
                shape,
                q,
                k,
                v,
                slopes,
                scale,
                blockSize,
                cuSeqlens,
                initialState,
                null,
                null,
                dOut,
                dFinalState,
                dq,
                dk,
                dv,
                dInitialState);
        validateBackward("lightning.chunked.backward", c, Float.BYTES);
        int blk = Math.min(blockSize, Math.max(1, c.maxLength()));
        runUnits(c, (u0, u1) -> {
            ChunkedF32 kernel = ChunkedF32.forThread(blk, shape.dk(), shape.dv());
            for (int u = u0; u < u1; u++) {
                int seq = u / shape.heads(), h = u % shape.heads();
                kernel.backward(c, c.row0(seq), c.length(seq), h, c.stateOffset(seq, h));
            }
        });
    }

    // ------------------------------------------------------------------------------------------------- f64 API

    /** {@link #forward(LightningShape, MemorySegment, MemorySegment, MemorySegment, double[], double, int, int[],
     *  MemorySegment, MemorySegment, MemorySegment) forward} on segments of native-order f64, computed in f64. */
    public static void forwardF64(
            LightningShape shape,
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            double[] slopes,
            double scale,
            int blockSize,
            int[] cuSeqlens,
            MemorySegment initialState,
            MemorySegment out,
            MemorySegment finalState) {
        Args c = new Args(
                shape,
                q,
                k,
                v,
                slopes,
                scale,
                blockSize,
                cuSeqlens,
                initialState,
                out,
                finalState,
                null,
                null,
                null,
                null,
                null,
                null);
        validateForward("lightning.chunked.forwardF64", c, Double.BYTES);
        ChunkedF64.forward(c);
    }

    /** {@link #backward backward} on segments of native-order f64, computed in f64. */
    public static void backwardF64(
            LightningShape shape,
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            double[] slopes,
            double scale,
            int blockSize,
            int[] cuSeqlens,
            MemorySegment initialState,
            MemorySegment dOut,
            MemorySegment dFinalState,
            MemorySegment dq,
            MemorySegment dk,
            MemorySegment dv,
            MemorySegment dInitialState) {
        Args c = new Args(
                shape,
                q,
                k,
                v,
                slopes,
                scale,
                blockSize,
                cuSeqlens,
                initialState,
                null,
                null,
                dOut,
                dFinalState,
                dq,
                dk,
                dv,
                dInitialState);
        validateBackward("lightning.chunked.backwardF64", c, Double.BYTES);
        ChunkedF64.backward(c);
    }

    // ---------------------------------------------------------------------------------------------- internals

    private static void runUnits(Args c, Parallel.RangeTask body) {
        Parallel.forRange(c.sequences() * c.shape().heads(), 1, body);
    }

    private static void validateCommon(String op, Args c, int bytes) {
        LightningShape sh = c.shape();
        if (sh == null) {
            throw new IllegalArgumentException(op + ": shape must not be null");
        }
        sh.checkSlopes(op, c.slopes());
        LightningShape.checkScale(op, c.scale());
        LightningShape.checkBlockSize(op, c.blockSize());
        sh.checkCuSeqlens(op, c.cuSeqlens());
        sh.checkQkv(op, c.q(), c.k(), c.v(), bytes);
        sh.checkOptional(op, "initialState", c.s0(), sh.stateElements(c.sequences()), bytes, stateLayout(c));
    }

    private static void validateForward(String op, Args c, int bytes) {
        validateCommon(op, c, bytes);
        LightningShape sh = c.shape();
        sh.checkSegment(op, "out", c.out(), sh.voElements(), bytes, "[B,T,H,dv]");
        sh.checkOptional(op, "finalState", c.sT(), sh.stateElements(c.sequences()), bytes, stateLayout(c));
    }

    private static void validateBackward(String op, Args c, int bytes) {
        validateCommon(op, c, bytes);
        LightningShape sh = c.shape();
        int n = c.sequences();
        sh.checkSegment(op, "dOut", c.dOut(), sh.voElements(), bytes, "[B,T,H,dv]");
        sh.checkOptional(op, "dFinalState", c.dsT(), sh.stateElements(n), bytes, stateLayout(c));
        sh.checkSegment(op, "dq", c.dq(), sh.qkElements(), bytes, "[B,T,H,dk]");
        sh.checkSegment(op, "dk", c.dk(), sh.qkElements(), bytes, "[B,T,H,dk]");
        sh.checkSegment(op, "dv", c.dv(), sh.voElements(), bytes, "[B,T,H,dv]");
        sh.checkOptional(op, "dInitialState", c.ds0(), sh.stateElements(n), bytes, stateLayout(c));
    }

    private static String stateLayout(Args c) {
        return c.cuSeqlens() == null ? "[B,H,dk,dv]" : "[N=" + c.sequences() + ",H,dk,dv]";
    }
}
