package fulgur.dist.sp;

import fulgur.backend.cpu.Parallel;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The O(T·d·e) pieces of sequence-parallel lightning attention, around the chunked kernel, per (batch, head) with
 * λ = exp(−slope) and all decay factors formed as exp(−slope·x), x ≥ 0. Layouts: q, k {@code [B,T,H,dk]};
 * v, o {@code [B,T,H,dv]}; states {@code [B,H,dk,dv]}; flat double arrays (accumulation in f64).
 * <ul>
 *   <li>local state: {@code L = Σ_j λ^{T−1−j} k_jᵀ v_j} (the state a slice leaves behind from a zero start);</li>
 *   <li>inter term: {@code o_i += scale·λ^{i+1} q_i P} (what the prefix state P adds to the slice's outputs);</li>
 *   <li>prefix gradient: {@code dP = Σ_i scale·λ^{i+1} q_iᵀ dO_i};</li>
 *   <li>state gradient: {@code dk_j += λ^{T−1−j} v_j dLᵀ, dv_j += λ^{T−1−j} k_j dL};</li>
 *   <li>decayed combination of gathered states over ranks (prefix forward, suffix backward).</li>
 * </ul>
 */
final class StateMath {
    private static final VectorSpecies<Double> S = DoubleVector.SPECIES_PREFERRED;

    private StateMath() {}

    /** y[yo..yo+n) += a·x[xo..xo+n). */
    static void axpy(double a, double[] x, int xo, double[] y, int yo, int n) {
        int i = 0;
        if (n >= S.length()) {
            DoubleVector av = DoubleVector.broadcast(S, a);
            for (int end = n - S.length(); i <= end; i += S.length()) {
                DoubleVector.fromArray(S, x, xo + i)
                        .fma(av, DoubleVector.fromArray(S, y, yo + i))
                        .intoArray(y, yo + i);
            }
        }
        for (; i < n; i++) {
            y[yo + i] += a * x[xo + i];
        }
    }

    static double dot(double[] x, int xo, double[] y, int yo, int n) {
        int i = 0;
        double sum = 0;
        if (n >= S.length()) {
            DoubleVector acc = DoubleVector.zero(S);
            for (int end = n - S.length(); i <= end; i += S.length()) {
                acc = DoubleVector.fromArray(S, x, xo + i).fma(DoubleVector.fromArray(S, y, yo + i), acc);
            }
            sum = acc.reduceLanes(VectorOperators.ADD);
        }
        for (; i < n; i++) {
            sum += x[xo + i] * y[yo + i];
        }
        return sum;
    }

    /** Below this many multiply-adds a pass runs on the calling thread: a trip through the shared pool costs more. */
    private static final long PARALLEL_WORK = 1L << 22;

    /** Runs {@code body} over the (batch, head) units, in parallel only when the pass is large. */
    private static void forUnits(Dims d, Parallel.RangeTask body) {
        long work = (long) d.units() * d.len() * d.dk() * d.dv();
        if (work < PARALLEL_WORK) {
            body.run(0, d.units());
        } else {
            Parallel.forRange(d.units(), 1, body);
        }
    }

    record Dims(int batch, int len, int heads, int dk, int dv) {
        int units() {
            return batch * heads;
        }

        long qkRow(int b, int t, int h) {
            return (((long) b * len + t) * heads + h) * dk;
        }

        long voRow(int b, int t, int h) {
            return (((long) b * len + t) * heads + h) * dv;
        }

        int state(int b, int h) {
            return (b * heads + h) * dk * dv;
        }

        int stateSize() {
            return batch * heads * dk * dv;
        }
    }

    static void localState(Dims d, double[] k, double[] v, double[] slopes, double[] out) {
        forUnits(d, (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                int b = u / d.heads(), h = u % d.heads(), st = d.state(b, h);
                java.util.Arrays.fill(out, st, st + d.dk() * d.dv(), 0);
                for (int t = 0; t < d.len(); t++) {
                    double w = Math.exp(-slopes[h] * (d.len() - 1 - t));
                    int kr = (int) d.qkRow(b, t, h), vr = (int) d.voRow(b, t, h);
                    for (int a = 0; a < d.dk(); a++) {
                        axpy(w * k[kr + a], v, vr, out, st + a * d.dv(), d.dv());
                    }
                }
            }
        });
    }

    static void addInter(Dims d, double[] q, double[] p, double[] slopes, double scale, double[] o) {
        forUnits(d, (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                int b = u / d.heads(), h = u % d.heads(), st = d.state(b, h);
                for (int i = 0; i < d.len(); i++) {
                    double w = scale * Math.exp(-slopes[h] * (i + 1));
                    int qr = (int) d.qkRow(b, i, h), orow = (int) d.voRow(b, i, h);
                    for (int a = 0; a < d.dk(); a++) {
                        axpy(w * q[qr + a], p, st + a * d.dv(), o, orow, d.dv());
                    }
                }
            }
        });
    }

    static void prefixGrad(Dims d, double[] q, double[] dO, double[] slopes, double scale, double[] dp) {
        forUnits(d, (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                int b = u / d.heads(), h = u % d.heads(), st = d.state(b, h);
                java.util.Arrays.fill(dp, st, st + d.dk() * d.dv(), 0);
                for (int i = 0; i < d.len(); i++) {
                    double w = scale * Math.exp(-slopes[h] * (i + 1));
                    int qr = (int) d.qkRow(b, i, h), gr = (int) d.voRow(b, i, h);
                    for (int a = 0; a < d.dk(); a++) {
                        axpy(w * q[qr + a], dO, gr, dp, st + a * d.dv(), d.dv());
                    }
                }
            }
        });
    }

    static void addStateGrad(Dims d, double[] k, double[] v, double[] dl, double[] slopes, double[] dk, double[] dv) {
        forUnits(d, (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                int b = u / d.heads(), h = u % d.heads(), st = d.state(b, h);
                for (int j = 0; j < d.len(); j++) {
                    double w = Math.exp(-slopes[h] * (d.len() - 1 - j));
                    int kr = (int) d.qkRow(b, j, h), vr = (int) d.voRow(b, j, h);
                    for (int a = 0; a < d.dk(); a++) {
                        int row = st + a * d.dv();
                        dk[kr + a] += w * dot(v, vr, dl, row, d.dv());
                        axpy(w * k[kr + a], dl, row, dv, vr, d.dv());
                    }
                }
            }
        });
    }

    /** dst += λ^{x} src per head (states [B,H,dk,dv]). */
    static void addDecayed(Dims d, double[] src, int srcOff, double[] slopes, double x, double[] dst) {
        int per = d.dk() * d.dv();
        for (int b = 0; b < d.batch(); b++) {
            for (int h = 0; h < d.heads(); h++) {
                double w = Math.exp(-slopes[h] * x);
                int st = d.state(b, h);
                for (int i = 0; i < per; i++) {
                    dst[st + i] += w * src[srcOff + st + i];
                }
            }
        }
    }

    /**
     * The state entering rank r: {@code P_r = Σ_{s<r} λ^{gap(s,r)} L_s} from the gathered local states
     * ({@code gathered} holds rank s's state at {@code s·stateSize}).
     */
    static double[] prefix(Dims d, double[] gathered, SequenceLayout layout, int rank, double[] slopes) {
        double[] p = new double[d.stateSize()];
        for (int s = 0; s < rank; s++) {
            addDecayed(d, gathered, s * d.stateSize(), slopes, layout.gap(s, rank), p);
        }
        return p;
    }

    /** The gradient of rank r's local state: {@code dL_r = Σ_{s>r} λ^{gap(r,s)} dP_s}. */
    static double[] suffix(Dims d, double[] gathered, SequenceLayout layout, int rank, double[] slopes) {
        double[] g = new double[d.stateSize()];
        for (int s = rank + 1; s < layout.ranks(); s++) {
            addDecayed(d, gathered, s * d.stateSize(), slopes, layout.gap(rank, s), g);
        }
        return g;
    }
}
