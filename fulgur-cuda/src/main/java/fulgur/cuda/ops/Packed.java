package fulgur.cuda.ops;

import fulgur.tensor.DType;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The packed results of the op-family kernels ({@code fulgur.ops.*Kernels}: an output and its final states in one flat
 * tensor, so that the op records one autograd node) and the gradients that come back in the same layout.
 */
public final class Packed {
    private Packed() {}

    /** A flat view of {@code t} (contiguous, made by a kernel): the packed result when there is nothing to append. */
    public static Tensor flat(Tensor t) {
        int[] shape = {Shape.toInt("packed", t.numel())};
        return Tensor.view(t.storage(), t.dtype(), shape, Shape.contiguousStrides(shape), t.offset());
    }

    /** One f32 tensor holding {@code parts} one after another (converted); the parts are closed. */
    public static Tensor of(LaunchContext lc, Tensor... parts) {
        long total = 0;
        for (Tensor p : parts) total += p.numel();
        Tensor packed = lc.empty(DType.F32, Shape.toInt("packed", total));
        long at = 0;
        for (Tensor p : parts) {
            lc.backend().copy(p, view(packed, at, p.shape()));
            at += p.numel();
            p.close();
        }
        return packed;
    }

    /** The part of shape {@code shape} that starts at element {@code from} of a contiguous packed tensor. */
    public static Tensor view(Tensor packed, long from, int[] shape) {
        return Tensor.view(
                packed.storage(), packed.dtype(), shape, Shape.contiguousStrides(shape), packed.offset() + from);
    }

    /** The parts of a packed gradient, as the launchers take them; {@link #close} frees the copies made for them. */
    public static final class Parts implements AutoCloseable {
        private final Tensor[] parts;
        private final List<Tensor> temps;

        private Parts(Tensor[] parts, List<Tensor> temps) {
            this.parts = parts;
            this.temps = temps;
        }

        /** Part i: contiguous, aligned, of the dtype asked for (null where its shape was null). */
        public Tensor part(int i) {
            return parts[i];
        }

        @Override
        public void close() {
            temps.forEach(Tensor::close);
        }
    }

    /**
     * Splits a packed gradient into parts of {@code shapes} (in order; a null shape is a part the gradient does not hold)
     * of {@code dtypes}, each contiguous and 16-byte aligned (a view where it already is, a copy otherwise).
     */
    public static Parts split(LaunchContext lc, Tensor packedGrad, int[][] shapes, DType[] dtypes) {
        List<Tensor> temps = new ArrayList<>();
        Tensor pg = lc.contiguous(packedGrad);
        if (pg != packedGrad) temps.add(pg);
        Tensor[] out = new Tensor[shapes.length];
        long at = 0;
        for (int i = 0; i < shapes.length; i++) {
            if (shapes[i] == null) continue;
            Tensor v = view(pg, at, shapes[i]);
            at += v.numel();
            Tensor d = lc.dense(v, dtypes[i]);
            if (d != v) temps.add(d);
            out[i] = d;
        }
        if (at != pg.numel()) {
            temps.forEach(Tensor::close);
            throw new IllegalArgumentException(
                    "packed gradient " + packedGrad.describe() + " does not hold " + at + " elements");
        }
        return new Parts(out, temps);
    }
}
