package fulgur.serve.engine;

import fulgur.ops.Indexing;
import fulgur.ops.Reductions;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The last logits of a batch's rows, [B, vocab] on the model's device, with each row's greedy pick made there: the
 * argmax (ties to the lowest id, as {@link fulgur.generate.Sampler} breaks them) among the ids the tokenizer has (a
 * model's vocabulary may be padded past it, and those ids have no text) and the logit it picked, read back in one
 * transfer of 2·B numbers. Greedy rows need nothing else; the logits themselves cross to the host only when a row
 * samples, a pick is not finite (the sampler then names the problem as generation does) or the prefix cache keeps them.
 * On the CPU the logits already are on the host: no picks are made there, and greedy rows take the sampler's argmax
 * (the same ties to the lowest id, the same refusal of non-finite logits) over the host logits.
 */
final class BatchLogits {
    private final Tensor logits;
    private final double[] picks;
    private final int vocab;
    /** Where {@link #host} copies the logits when they are f32 on the CPU (reused step after step), or null. */
    private final float[] reuse;

    private float[] host;

    /** {@code picks} holds, per row, the argmax id and its logit, as {@link #pickInto} writes them; null: no picks. */
    BatchLogits(Tensor logits, double[] picks) {
        this(logits, picks, null);
    }

    /** As above, the host copy made into {@code reuse} (at least B·vocab floats) where it can be. */
    BatchLogits(Tensor logits, double[] picks, float[] reuse) {
        this.logits = logits;
        this.picks = picks;
        this.vocab = logits.size(1);
        this.reuse = reuse;
    }

    /** Writes each row's argmax among ids [0, pickable) and its logit into {@code out} [B, 2] (f64), on the logits' device. */
    static void pickInto(Tensor logits, int pickable, Tensor out) {
        int b = logits.size(0);
        Tensor within = pickable == logits.size(1) ? logits : logits.narrow(1, 0, pickable);
        Tensor idx = Reductions.argmax(within, 1, true);
        Tensor val = Indexing.gather(within, 1, idx);
        out.select(1, 0).copyFrom(idx.reshape(b));
        out.select(1, 1).copyFrom(val.reshape(b));
    }

    /** Picks among ids [0, pickable) on the device and reads them back (the logits stay where they are); none on the CPU. */
    static BatchLogits of(Tensor logits, int pickable) {
        if (logits.device().kind() == Device.Kind.CPU) {
            return new BatchLogits(logits, null);
        }
        Tensor out = Tensor.empty(DType.F64, logits.device(), logits.size(0), 2);
        pickInto(logits, pickable, out);
        return new BatchLogits(logits, out.toDoubleArray());
    }

    /**
     * Row {@code row}'s greedy token, or -1 when its largest logit is not finite (NaN, +Infinity, or -Infinity
     * everywhere: nothing can be sampled from such a row) or no pick was made (the sampler picks it).
     */
    int greedy(int row) {
        return picks != null && Double.isFinite(picks[2 * row + 1]) ? (int) picks[2 * row] : -1;
    }

    /** All rows' logits on the host, [B·vocab] row after row (read once; in the reused array, valid until the next step). */
    float[] host() {
        if (host == null) {
            long n = logits.numel();
            if (reuse != null
                    && reuse.length >= n
                    && logits.dtype() == DType.F32
                    && logits.device().kind() == Device.Kind.CPU
                    && logits.isContiguous()) {
                MemorySegment.copy(
                        logits.hostSegment("logits"),
                        ValueLayout.JAVA_FLOAT,
                        logits.offset() * Float.BYTES,
                        reuse,
                        0,
                        (int) n);
                host = reuse;
            } else {
                host = logits.toFloatArray();
            }
        }
        return host;
    }

    /** A copy of one row's logits on the host. */
    float[] row(int row) {
        return java.util.Arrays.copyOfRange(host(), row * vocab, (row + 1) * vocab);
    }
}
