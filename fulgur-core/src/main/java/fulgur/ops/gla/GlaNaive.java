package fulgur.ops.gla;

/**
 * The f64 oracle of gated linear attention, written as the masked quadratic sum rather than the recurrence:
 * <pre>
 *   o_t = scale · ( Σ_{s≤t} Σ_c q_{t,c} k_{s,c} exp(Σ_{r=s+1..t} g_{r,c}) v_s  +  Σ_c q_{t,c} exp(Σ_{r≤t} g_{r,c}) S0_c )
 *   S_T = Σ_s exp(Σ_{r=s+1..T} g_r)ᵀ ⊙ k_sᵀ v_s + exp(Σ_r g_r)ᵀ ⊙ S0
 * </pre>
 * Row-major arrays: q, k, g {@code [B,T,H,dk]}, v {@code [B,T,H,dv]}, states {@code [B,H,dk,dv]}.
 */
public final class GlaNaive {
    private GlaNaive() {}

    /** Output {@code [B,T,H,dv]} and final state {@code [B,H,dk,dv]}. */
    public record Result(double[] output, double[] finalState) {}

    public static Result forward(
            double[] q,
            double[] k,
            double[] v,
            double[] g,
            double[] s0,
            int b,
            int t,
            int h,
            int dk,
            int dv,
            double scale) {
        double[] o = new double[b * t * h * dv];
        double[] sT = new double[b * h * dk * dv];
        for (int bi = 0; bi < b; bi++) {
            for (int hi = 0; hi < h; hi++) {
                for (int ti = 0; ti < t; ti++) {
                    for (int si = 0; si <= ti; si++) {
                        for (int c = 0; c < dk; c++) {
                            double w = scale
                                    * q[qi(bi, ti, hi, c, t, h, dk)]
                                    * k[qi(bi, si, hi, c, t, h, dk)]
                                    * Math.exp(logDecay(g, bi, hi, c, si + 1, ti, t, h, dk));
                            for (int e = 0; e < dv; e++) {
                                o[qi(bi, ti, hi, e, t, h, dv)] += w * v[qi(bi, si, hi, e, t, h, dv)];
                            }
                        }
                    }
                    if (s0 != null) {
                        for (int c = 0; c < dk; c++) {
                            double w = scale
                                    * q[qi(bi, ti, hi, c, t, h, dk)]
                                    * Math.exp(logDecay(g, bi, hi, c, 0, ti, t, h, dk));
                            for (int e = 0; e < dv; e++) {
                                o[qi(bi, ti, hi, e, t, h, dv)] += w * s0[si(bi, hi, c, e, h, dk, dv)];
                            }
                        }
                    }
                }
                for (int c = 0; c < dk; c++) {
                    for (int e = 0; e < dv; e++) {
                        double acc = s0 == null
                                ? 0
                                : Math.exp(logDecay(g, bi, hi, c, 0, t - 1, t, h, dk))
                                        * s0[si(bi, hi, c, e, h, dk, dv)];
                        for (int s = 0; s < t; s++) {
                            acc += Math.exp(logDecay(g, bi, hi, c, s + 1, t - 1, t, h, dk))
                                    * k[qi(bi, s, hi, c, t, h, dk)]
                                    * v[qi(bi, s, hi, e, t, h, dv)];
                        }
                        sT[si(bi, hi, c, e, h, dk, dv)] = acc;
                    }
                }
            }
        }
        return new Result(o, sT);
    }

    /** Σ_{r=from..to} g_r of one channel (0 when the range is empty). */
    private static double logDecay(double[] g, int b, int h, int c, int from, int to, int t, int heads, int dk) {
        double s = 0;
        for (int r = from; r <= to; r++) {
            s += g[qi(b, r, h, c, t, heads, dk)];
        }
        return s;
    }

    private static int qi(int b, int t, int h, int c, int seq, int heads, int d) {
        return ((b * seq + t) * heads + h) * d + c;
    }

    private static int si(int b, int h, int c, int e, int heads, int dk, int dv) {
        return ((b * heads + h) * dk + c) * dv + e;
    }
}
