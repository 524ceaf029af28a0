package fulgur.ops.attention;

import fulgur.ops.Elementwise;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.HashMap;
import java.util.Map;

/**
 * Rotary position embedding in Hugging Face Llama's convention ("rotate_half"): feature i of the rotated part pairs
 * with feature i + r/2 (not i+1), angle {@code pos · θ^(−2i/r)} for i &lt; r/2, where r is the rotary dimension.
 * With a partial rotary dimension (MiniMax-01 rotates half of each head) only the first r features of a head rotate
 * and the rest pass through unchanged, as transformers does for {@code partial_rotary_factor} (GPT-NeoX/Phi form).
 * Composed from autograd ops, so gradients flow and it runs on any backend.
 */
public final class Rope {
    private final int headDim;
    private final int rotaryDim;
    private final double theta;
    private final double[] invFreqs; // null: θ^(−2i/r)

    /**
     * @param headDim   features per head
     * @param rotaryDim how many of them rotate (even, ≤ headDim)
     * @param theta     the base (rope_theta)
     */
    public Rope(int headDim, int rotaryDim, double theta) {
        this(headDim, rotaryDim, theta, null);
    }

    /**
     * Llama 3.1's frequency scaling (transformers' rope_type "llama3"): wavelengths shorter than
     * {@code originalMax/highFreqFactor} keep their frequency, those longer than {@code originalMax/lowFreqFactor} are
     * divided by {@code factor}, and the band between is interpolated linearly in {@code originalMax/wavelength}.
     */
    public static Rope llama3(
            int headDim, double theta, double factor, double lowFreqFactor, double highFreqFactor, double originalMax) {
        if (!(factor > 0) || !(lowFreqFactor > 0) || !(highFreqFactor > lowFreqFactor) || !(originalMax > 0)) {
            throw new IllegalArgumentException(
                    "Rope.llama3: expected factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0, got "
                            + factor + ", " + lowFreqFactor + ", " + highFreqFactor + ", " + originalMax);
        }
        Rope plain = new Rope(headDim, headDim, theta);
        double lowWavelen = originalMax / lowFreqFactor;
        double highWavelen = originalMax / highFreqFactor;
        double[] inv = new double[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            double f = plain.invFreq(i);
            double wavelen = 2 * Math.PI / f;
            if (wavelen < highWavelen) {
                inv[i] = f;
            } else if (wavelen > lowWavelen) {
                inv[i] = f / factor;
            } else {
                double smooth = (originalMax / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                inv[i] = (1 - smooth) * f / factor + smooth * f;
            }
        }
        return new Rope(headDim, headDim, theta, inv);
    }

    private Rope(int headDim, int rotaryDim, double theta, double[] invFreqs) {
        if (headDim <= 0) {
            throw new IllegalArgumentException("Rope: headDim must be > 0, got " + headDim);
        }
        if (rotaryDim <= 0 || rotaryDim > headDim || rotaryDim % 2 != 0) {
            throw new IllegalArgumentException(
                    "Rope: rotaryDim must be even and in (0, headDim=" + headDim + "], got " + rotaryDim);
        }
        if (!(theta > 0) || Double.isInfinite(theta)) {
            throw new IllegalArgumentException("Rope: theta must be finite and > 0, got " + theta);
        }
        this.headDim = headDim;
        this.rotaryDim = rotaryDim;
        this.theta = theta;
        this.invFreqs = invFreqs;
    }

    public int headDim() {
        return headDim;
    }

    public int rotaryDim() {
        return rotaryDim;
    }

    public double theta() {
        return theta;
    }

    /** Inverse frequency of pair i: θ^(−2i/r) (scaled for {@link #llama3}). */
    public double invFreq(int i) {
        return invFreqs != null ? invFreqs[i] : Math.pow(theta, -2.0 * i / rotaryDim);
    }

    /** x [B, T, H, headDim] at positions offset..offset+T−1 → rotated, same shape and dtype. */
    public Tensor apply(Tensor x, long offset) {
        return apply(x, new long[] {offset});
    }

    /**
     * x [B, T, H, headDim] with row b at positions offsets[b]..offsets[b]+T−1 (batched decoding, each sequence at its
     * own position; a single offset applies to every row) → rotated, same shape and dtype.
     */
    public Tensor apply(Tensor x, long[] offsets) {
        String op = "rope";
        x.checkAlive(op);
        if (x.ndim() != 4 || x.size(3) != headDim) {
            throw new IllegalArgumentException(op + ": x must be [B, T, H, " + headDim + "], got " + x.describe());
        }
        int rows = offsets.length;
        if (rows != 1 && rows != x.size(0)) {
            throw new IllegalArgumentException(op + ": " + rows + " position offsets for " + x.size(0) + " rows");
        }
        for (long offset : offsets) {
            if (offset < 0) {
                throw new IllegalArgumentException(op + ": position offset must be >= 0, got " + offset);
            }
        }
        int t = x.size(1);
        Tensor ct;
        Tensor st;
        if (rows == 1 && offsets[0] + t <= CACHED_POSITIONS) {
            Tensor[] cs = tables(x.dtype(), x.device(), offsets[0] + t);
            ct = Views.narrow(cs[0], 0, (int) offsets[0], t);
            st = Views.narrow(cs[1], 0, (int) offsets[0], t);
        } else {
            Tensor[] cs = angles(x.dtype(), offsets, t);
            ct = cs[0];
            st = cs[1];
            if (!x.device().equals(ct.device())) {
                ct = ct.to(x.device());
                st = st.to(x.device());
            }
        }
        int half = rotaryDim / 2;
        Tensor rot = rotaryDim == headDim ? x : Views.narrow(x, 3, 0, rotaryDim);
        Tensor x1 = Views.narrow(rot, 3, 0, half);
        Tensor x2 = Views.narrow(rot, 3, half, half);
        Tensor rotated = Views.concat(3, Elementwise.neg(x2), x1); // rotate_half
        Tensor out = Elementwise.add(Elementwise.mul(rot, ct), Elementwise.mul(rotated, st));
        if (rotaryDim == headDim) {
            return out;
        }
        return Views.concat(3, out, Views.narrow(x, 3, rotaryDim, headDim - rotaryDim));
    }

    /** Positions whose tables {@link #apply} keeps on each device (beyond them the tables are made per call). */
    static final int CACHED_POSITIONS = 1 << 16;

    /** cos and sin tables [cap, 1, r] for positions 0..cap−1, per dtype and device. */
    private final Map<String, Tensor[]> tables = new HashMap<>();

    /**
     * The tables covering positions below {@code end}, made once and grown by doubling (so training and prefills read
     * them from the device instead of computing and uploading them per call). A table that was outgrown is kept, not
     * freed: a pending backward may still read it.
     */
    private synchronized Tensor[] tables(DType dt, Device device, long end) {
        String key = dt + "@" + device;
        Tensor[] cs = tables.get(key);
        if (cs == null || cs[0].size(0) < end) {
            int cap = (int) Math.min(CACHED_POSITIONS, Math.max(end, cs == null ? 256 : 2L * cs[0].size(0)));
            Tensor[] made = Scope.root().run(() -> {
                Tensor[] host = angles(dt, new long[] {0}, cap);
                if (device.equals(host[0].device())) {
                    return host;
                }
                Tensor[] dev = {host[0].to(device), host[1].to(device)};
                host[0].close();
                host[1].close();
                return dev;
            });
            tables.put(key, made);
            cs = made;
        }
        return cs;
    }

    /**
     * cos/sin tables [T, 1, r] (per row: [B, T, 1, r]) in double precision (angles of long positions lose digits in
     * f32), duplicated over the two halves as HF builds them: emb = cat(freqs, freqs); on the CPU, in {@code dt}.
     */
    private Tensor[] angles(DType dt, long[] offsets, int t) {
        int rows = offsets.length;
        int half = rotaryDim / 2;
        double[] cos = new double[rows * t * rotaryDim];
        double[] sin = new double[rows * t * rotaryDim];
        for (int r = 0; r < rows; r++) {
            for (int p = 0; p < t; p++) {
                int base = (r * t + p) * rotaryDim;
                for (int i = 0; i < half; i++) {
                    double a = (offsets[r] + p) * invFreq(i);
                    double c = Math.cos(a);
                    double sn = Math.sin(a);
                    cos[base + i] = c;
                    cos[base + half + i] = c;
                    sin[base + i] = sn;
                    sin[base + half + i] = sn;
                }
            }
        }
        Tensor ct = rows == 1 ? Tensor.of(dt, cos, t, 1, rotaryDim) : Tensor.of(dt, cos, rows, t, 1, rotaryDim);
        Tensor st = rows == 1 ? Tensor.of(dt, sin, t, 1, rotaryDim) : Tensor.of(dt, sin, rows, t, 1, rotaryDim);
        return new Tensor[] {ct, st};
    }
}
