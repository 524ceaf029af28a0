package fulgur.dist.sp;

import fulgur.autograd.Autograd;
import fulgur.dist.DistException;
import fulgur.dist.ProcessGroup;
import fulgur.dist.Work;
import fulgur.ops.Views;
import fulgur.ops.lightning.Lightning;
import fulgur.ops.lightning.LightningAttentionOp;
import fulgur.ops.lightning.LightningChunked;
import fulgur.ops.lightning.LightningShape;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Lightning attention over a sequence split across the ranks of a sequence-parallel group: each rank holds the
 * slice {@code layout} gives it and gets exactly the outputs (and gradients) the whole sequence would give there.
 * With λ_h = exp(−slope_h), rank r's slice of length T_r, its local state L_r = Σ_j λ^{T_r−1−j} k_jᵀ v_j and the
 * state entering it P_r (P_0 = the initial state S₀ or 0, P_{r+1} = λ^{T_r} P_r + L_r):
 *
 * <p><b>LASP</b> ({@link SpAlgorithm#LASP}): rank r receives P_r from rank r−1, runs the chunked kernel from it and
 * sends its final state P_{r+1} to rank r+1; P_r is cached, so the backward does not recompute it: rank r receives
 * dP_{r+1} from rank r+1, runs the kernel backward from the cached P_r with dP_{r+1} as final-state gradient, and sends
 * the resulting dP_r to rank r−1. W−1 serial hops of one [B,H,dk,dv] state each way.
 *
 * <p><b>LASP-2</b> ({@link SpAlgorithm#LASP2}): every rank computes L_r (rank 0 folds in λ^{T_0} S₀), launches one
 * all-gather of the states and, while it runs, the intra-slice chunked kernel from a zero state; then combines
 * the states of the ranks before it <em>with decay</em>, {@code P_r = Σ_{s<r} λ^{T_{s+1}+…+T_{r−1}} L_s}, and adds
 * {@code scale·λ^{i+1} q_i P_r} to its outputs. Backward: dP_r = Σ_i scale·λ^{i+1} q_iᵀ dO_i, one all-gather of those
 * (overlapped with the kernel backward), the suffix combination {@code dL_r = Σ_{s>r} λ^{T_{r+1}+…+T_{s−1}} dP_s},
 * and its contribution to dk, dv. Unlike the Linear-MoE reference code this has the decay and is causal inside
 * blocks (the local kernel is the exact chunked Lightning-2).
 *
 * <p>The initial state belongs to the first rank, the final state to the last (other ranks pass null and get
 * null). Every rank of the group must make the same calls in the same order (one per layer, forward and backward).
 */
public final class SequenceParallelLightning implements LightningAttentionOp {
    private final ProcessGroup group;
    private final SpAlgorithm algorithm;
    private final SequenceLayout layout;
    private final int blockSize;

    public SequenceParallelLightning(ProcessGroup group, SpAlgorithm algorithm, SequenceLayout layout, int blockSize) {
        if (group.size() != layout.ranks()) {
            throw new DistException("sequence parallelism: the layout " + layout + " is for " + layout.ranks()
                    + " ranks but group '" + group.name() + "' has " + group.size());
        }
        if (blockSize < 1) {
            throw new IllegalArgumentException("sequence parallelism: block size must be >= 1, got " + blockSize);
        }
        this.group = group;
        this.algorithm = algorithm;
        this.layout = layout;
        this.blockSize = blockSize;
    }

    public SequenceParallelLightning(ProcessGroup group, SpAlgorithm algorithm, SequenceLayout layout) {
        this(group, algorithm, layout, LightningChunked.DEFAULT_BLOCK);
    }

    public SpAlgorithm algorithm() {
        return algorithm;
    }

    public SequenceLayout layout() {
        return layout;
    }

    public ProcessGroup group() {
        return group;
    }

    @Override
    public Tensor apply(Tensor q, Tensor k, Tensor v, double[] slopes, double scale) {
        return chunked(q, k, v, slopes, scale, null, false).output();
    }

    /** {@link #chunked}: the initial state on the first rank only, the final state on the last only. */
    @Override
    public Lightning.Result applyWithStates(
            Tensor q, Tensor k, Tensor v, double[] slopes, double scale, Tensor initialState, boolean wantFinalState) {
        return chunked(q, k, v, slopes, scale, initialState, wantFinalState);
    }

    /**
     * As {@link Lightning#chunked} for this rank's slice: output [B,T_r,H,dv]; {@code initialState} only on rank 0;
     * the final state (of the whole sequence) only on the last rank when asked for. Gradients flow to q, k, v and
     * the initial state, and from the output and the final state.
     */
    public Lightning.Result chunked(
            Tensor q, Tensor k, Tensor v, double[] slopes, double scale, Tensor initialState, boolean wantFinalState) {
        String op = (algorithm == SpAlgorithm.LASP ? "lasp" : "lasp2") + ".lightning";
        int rank = group.rank();
        int w = group.size();
        LightningShape shape = shapeOf(op, q, k, v);
        if (shape.seqLen() != layout.length(rank)) {
            throw new DistException(op + " on group '" + group.name() + "' (rank " + rank + " of " + w
                    + "): this rank holds " + shape.seqLen() + " positions but the sequence layout " + layout
                    + " gives it " + layout.length(rank));
        }
        if (slopes == null || slopes.length != shape.heads()) {
            throw new IllegalArgumentException(
                    op + ": expected " + shape.heads() + " slopes, got " + (slopes == null ? "null" : slopes.length));
        }
        int[] stateShape = {shape.batch(), shape.heads(), shape.dk(), shape.dv()};
        if (initialState != null) {
            if (rank != 0) {
                throw new DistException(op + " on group '" + group.name()
                        + "': the initial state belongs to the first rank of the sequence, got one on rank " + rank);
            }
            if (!java.util.Arrays.equals(initialState.shape(), stateShape)) {
                throw new IllegalArgumentException(op + ": initial state " + initialState.describe()
                        + " does not match the expected " + Shape.str(stateShape));
            }
        }
        boolean last = rank == w - 1;
        boolean hasFinal = wantFinalState && last;
        DType ct = q.dtype() == DType.F64 ? DType.F64 : DType.F32;
        Ctx c = new Ctx(
                op,
                shape,
                ct,
                slopes,
                scale,
                contiguous(q, ct),
                contiguous(k, ct),
                contiguous(v, ct),
                initialState == null ? null : contiguous(initialState, ct),
                stateShape);
        long outNumel = shape.voElements();
        long stateNumel = Shape.numel(stateShape);
        Tensor packed = Tensor.empty(ct, Shape.toInt(op, outNumel + (hasFinal ? stateNumel : 0)));
        MemorySegment all = seg(packed);
        int es = ct.byteSize();
        MemorySegment out = all.asSlice(0, outNumel * es);
        MemorySegment fin = hasFinal ? all.asSlice(outNumel * es, stateNumel * es) : null;
        Tensor prefix = algorithm == SpAlgorithm.LASP ? forwardRing(c, out, fin) : forwardGather(c, out, fin);
        Tensor node = Autograd.record(op, packed, new Tensor[] {q, k, v, initialState}, g -> {
            Tensor gc = contiguous(g, ct);
            MemorySegment ga = seg(gc);
            MemorySegment dOut = ga.asSlice(0, outNumel * es);
            MemorySegment dFin = hasFinal ? ga.asSlice(outNumel * es, stateNumel * es) : null;
            Tensor[] grads = algorithm == SpAlgorithm.LASP
                    ? backwardRing(c, prefix, dOut, dFin)
                    : backwardGather(c, prefix, dOut, dFin);
            return new Tensor[] {
                back(grads[0], q),
                back(grads[1], k),
                back(grads[2], v),
                grads[3] == null ? null : back(grads[3], initialState)
            };
        });
        int[] outShape = {shape.batch(), shape.seqLen(), shape.heads(), shape.dv()};
        Tensor o = Views.reshape(Views.narrow(node, 0, 0, (int) outNumel), outShape);
        if (q.dtype() != ct) {
            o = o.to(q.dtype());
        }
        Tensor fs =
                hasFinal ? Views.reshape(Views.narrow(node, 0, (int) outNumel, (int) stateNumel), stateShape) : null;
        return new Lightning.Result(o, fs);
    }

    /** What forward and backward share. */
    private record Ctx(
            String op,
            LightningShape shape,
            DType ct,
            double[] slopes,
            double scale,
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor s0,
            int[] stateShape) {
        StateMath.Dims dims() {
            return new StateMath.Dims(shape.batch(), shape.seqLen(), shape.heads(), shape.dk(), shape.dv());
        }
    }

    // -------------------------------------------------------------------------------------------------- LASP

    /** Receives P_r, runs the kernel from it, sends P_{r+1}; returns the cached P_r (null on rank 0). */
    private Tensor forwardRing(Ctx c, MemorySegment out, MemorySegment fin) {
        int rank = group.rank();
        boolean last = rank == group.size() - 1;
        Tensor p = null;
        if (rank > 0) {
            p = Tensor.empty(c.ct, c.stateShape);
            group.recv(p, rank - 1).await();
        }
        Tensor s0 = rank == 0 ? c.s0 : p;
        Tensor next = last ? null : Tensor.empty(c.ct, c.stateShape);
        MemorySegment finalSeg = last ? fin : seg(next);
        kernelForward(c, s0 == null ? null : seg(s0), out, finalSeg);
        if (!last) {
            group.send(next, rank + 1).await();
        }
        return p;
    }

    private Tensor[] backwardRing(Ctx c, Tensor p, MemorySegment dOut, MemorySegment dFin) {
        int rank = group.rank();
        boolean last = rank == group.size() - 1;
        MemorySegment dsT = dFin;
        if (!last) {
            Tensor dNext = Tensor.empty(c.ct, c.stateShape);
            group.recv(dNext, rank + 1).await();
            dsT = seg(dNext);
        }
        Tensor s0 = rank == 0 ? c.s0 : p;
        Tensor dq = Tensor.empty(c.ct, c.q.shape());
        Tensor dk = Tensor.empty(c.ct, c.k.shape());
        Tensor dv = Tensor.empty(c.ct, c.v.shape());
        Tensor ds0 = s0 == null ? null : Tensor.empty(c.ct, c.stateShape);
        kernelBackward(c, s0 == null ? null : seg(s0), dOut, dsT, dq, dk, dv, ds0);
        if (rank > 0) {
            group.send(ds0, rank - 1).await();
            return new Tensor[] {dq, dk, dv, null};
        }
        return new Tensor[] {dq, dk, dv, ds0};
    }

    // ------------------------------------------------------------------------------------------------ LASP-2

    /** Local state, all-gather overlapped with the intra-slice kernel, decayed prefix; returns P_r (null on rank 0). */
    private Tensor forwardGather(Ctx c, MemorySegment out, MemorySegment fin) {
        int rank = group.rank();
        StateMath.Dims d = c.dims();
        double[] local = new double[d.stateSize()];
        StateMath.localState(d, read(c.k), read(c.v), c.slopes, local);
        if (c.s0 != null) {
            StateMath.addDecayed(d, read(c.s0), 0, c.slopes, c.shape.seqLen(), local);
        }
        Tensor localT = tensor(c.ct, local, c.stateShape);
        Tensor gathered = Tensor.empty(c.ct, group.size() * d.stateSize());
        Work work = group.allGather(localT, gathered);
        kernelForward(c, c.s0 == null ? null : seg(c.s0), out, null);
        work.await();
        double[] p = StateMath.prefix(d, read(gathered), layout, rank, c.slopes);
        Tensor prefix = null;
        if (rank > 0) {
            double[] o = read(out, c.ct);
            StateMath.addInter(d, read(c.q), p, c.slopes, c.scale, o);
            write(o, out, c.ct);
            prefix = tensor(c.ct, p, c.stateShape);
        }
        if (fin != null) {
            double[] f = local.clone();
            StateMath.addDecayed(d, p, 0, c.slopes, c.shape.seqLen(), f);
            write(f, fin, c.ct);
        }
        return prefix;
    }

    private Tensor[] backwardGather(Ctx c, Tensor prefix, MemorySegment dOut, MemorySegment dFin) {
        int rank = group.rank();
        StateMath.Dims d = c.dims();
        double[] dp = new double[d.stateSize()];
        StateMath.prefixGrad(d, read(c.q), read(dOut, c.ct), c.slopes, c.scale, dp);
        double[] dFinal = dFin == null ? null : read(dFin, c.ct);
        if (dFinal != null) {
            StateMath.addDecayed(d, dFinal, 0, c.slopes, c.shape.seqLen(), dp);
        }
        Tensor gathered = Tensor.empty(c.ct, group.size() * d.stateSize());
        Work work = group.allGather(tensor(c.ct, dp, c.stateShape), gathered);
        Tensor dq = Tensor.empty(c.ct, c.q.shape());
        Tensor dk = Tensor.empty(c.ct, c.k.shape());
        Tensor dv = Tensor.empty(c.ct, c.v.shape());
        Tensor ds0 = c.s0 == null ? null : Tensor.empty(c.ct, c.stateShape);
        Tensor s0 = rank == 0 ? c.s0 : prefix;
        kernelBackward(c, s0 == null ? null : seg(s0), dOut, null, dq, dk, dv, ds0);
        work.await();
        double[] dl = StateMath.suffix(d, read(gathered), layout, rank, c.slopes);
        if (dFinal != null) {
            for (int i = 0; i < dl.length; i++) {
                dl[i] += dFinal[i];
            }
        }
        if (rank < group.size() - 1 || dFinal != null) {
            double[] dkA = read(dk);
            double[] dvA = read(dv);
            StateMath.addStateGrad(d, read(c.k), read(c.v), dl, c.slopes, dkA, dvA);
            write(dkA, seg(dk), c.ct);
            write(dvA, seg(dv), c.ct);
        }
        if (ds0 != null) {
            double[] g0 = read(ds0);
            StateMath.addDecayed(d, dl, 0, c.slopes, c.shape.seqLen(), g0);
            write(g0, seg(ds0), c.ct);
        }
        return new Tensor[] {dq, dk, dv, ds0};
    }

    // ---------------------------------------------------------------------------------------------- kernels

    private void kernelForward(Ctx c, MemorySegment s0, MemorySegment out, MemorySegment fin) {
        if (c.ct == DType.F32) {
            LightningChunked.forward(
                    c.shape, seg(c.q), seg(c.k), seg(c.v), c.slopes, c.scale, blockSize, null, s0, out, fin);
        } else {
            LightningChunked.forwardF64(
                    c.shape, seg(c.q), seg(c.k), seg(c.v), c.slopes, c.scale, blockSize, null, s0, out, fin);
        }
    }

    private void kernelBackward(
            Ctx c,
            MemorySegment s0,
            MemorySegment dOut,
            MemorySegment dsT,
            Tensor dq,
            Tensor dk,
            Tensor dv,
            Tensor ds0) {
        MemorySegment ds0Seg = ds0 == null ? null : seg(ds0);
        if (c.ct == DType.F32) {
            LightningChunked.backward(
                    c.shape, seg(c.q), seg(c.k), seg(c.v), c.slopes, c.scale, blockSize, null, s0, dOut, dsT, seg(dq),
                    seg(dk), seg(dv), ds0Seg);
        } else {
            LightningChunked.backwardF64(
                    c.shape, seg(c.q), seg(c.k), seg(c.v), c.slopes, c.scale, blockSize, null, s0, dOut, dsT, seg(dq),
                    seg(dk), seg(dv), ds0Seg);
        }
    }

    // ---------------------------------------------------------------------------------------------- helpers

    private static LightningShape shapeOf(String op, Tensor q, Tensor k, Tensor v) {
        for (Tensor t : new Tensor[] {q, k, v}) {
            t.checkAlive(op);
            if (t.ndim() != 4 || t.device().kind() != Device.Kind.CPU) {
                throw new IllegalArgumentException(op + ": expected [B, T, H, D] CPU tensors, got " + t.describe());
            }
        }
        if (!q.sameShape(k) || v.size(0) != q.size(0) || v.size(1) != q.size(1) || v.size(2) != q.size(2)) {
            throw new IllegalArgumentException(op + ": q " + Shape.str(q.shape()) + ", k " + Shape.str(k.shape())
                    + ", v " + Shape.str(v.shape()) + " do not agree (expected q, k [B,T,H,dk] and v [B,T,H,dv])");
        }
        return new LightningShape(q.size(0), q.size(1), q.size(2), q.size(3), v.size(3));
    }

    private static Tensor contiguous(Tensor t, DType ct) {
        Tensor c = t.dtype() == ct ? t.detach() : t.detach().to(ct);
        return c.isContiguous() ? c : c.contiguous();
    }

    private static MemorySegment seg(Tensor t) {
        long es = t.dtype().byteSize();
        return t.hostSegment("sequence-parallel lightning").asSlice(t.offset() * es, t.numel() * es);
    }

    private static double[] read(Tensor t) {
        return read(seg(t), t.dtype());
    }

    static double[] read(MemorySegment s, DType dt) {
        if (dt == DType.F64) {
            return s.toArray(ValueLayout.JAVA_DOUBLE_UNALIGNED);
        }
        float[] f = s.toArray(ValueLayout.JAVA_FLOAT_UNALIGNED);
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    static void write(double[] a, MemorySegment s, DType dt) {
        if (dt == DType.F64) {
            MemorySegment.copy(a, 0, s, ValueLayout.JAVA_DOUBLE_UNALIGNED, 0, a.length);
            return;
        }
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            f[i] = (float) a[i];
        }
        MemorySegment.copy(f, 0, s, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, f.length);
    }

    private static Tensor tensor(DType ct, double[] a, int[] shape) {
        Tensor t = Tensor.empty(ct, shape);
        write(a, seg(t), ct);
        return t;
    }

    private static Tensor back(Tensor grad, Tensor like) {
        return grad.dtype() == like.dtype() ? grad : grad.to(like.dtype());
    }
}
