package fulgur.ops.lightnet;

/**
 * The test oracle: LightNet's recurrence in its quadratic form, in f64 on plain arrays, forward and backward
 * written out term by term. Per sequence b, head h and key channel a, with Z_t = e^{z_0} + Σ_{s≤t} e^{k_s}
 * (the e^{z_0} term only with an initial state) and z_t = log Z_t:
 * <pre>
 *   S_t[a,:] = e^{z_0 − z_t} S_0[a,:] + Σ_{s≤t} e^{k_s − z_t} v_s        o_t = Σ_a q_t[a] S_t[a,:]
 * </pre>
 * and the final state is (S_{T−1}, z_{T−1}). Layouts: q, k [B,T,H,dk], v, o [B,T,H,dv], s [B,H,dk,dv], z [B,H,dk],
 * row-major. O(T²·dk·dv) per head: for tests only.
 */
public final class LightNetNaive {
    private LightNetNaive() {}

    public record Dims(int b, int t, int h, int dk, int dv) {
        int qi(int bb, int tt, int hh, int a) {
            return ((bb * t + tt) * h + hh) * dk + a;
        }

        int vi(int bb, int tt, int hh, int c) {
            return ((bb * t + tt) * h + hh) * dv + c;
        }

        int si(int bb, int hh, int a, int c) {
            return ((bb * h + hh) * dk + a) * dv + c;
        }

        int zi(int bb, int hh, int a) {
            return (bb * h + hh) * dk + a;
        }
    }

    /** Output [B,T,H,dv] and final state. */
    public record Forward(double[] o, double[] s, double[] z) {}

    /** Gradients of the inputs (ds0, dz0 null without an initial state). */
    public record Backward(double[] dq, double[] dk, double[] dv, double[] ds0, double[] dz0) {}

    /** The running log-normaliser z_t per (b, t, h, a), laid out like k. */
    static double[] logNormalisers(Dims d, double[] k, double[] z0) {
        double[] z = new double[k.length];
        for (int b = 0; b < d.b(); b++) {
            for (int h = 0; h < d.h(); h++) {
                for (int a = 0; a < d.dk(); a++) {
                    for (int t = 0; t < d.t(); t++) {
                        // z_t = log(e^{z0} + Σ_{s≤t} e^{k_s}), shifted by the largest term
                        double m = z0 == null ? Double.NEGATIVE_INFINITY : z0[d.zi(b, h, a)];
                        for (int s = 0; s <= t; s++) {
                            m = Math.max(m, k[d.qi(b, s, h, a)]);
                        }
                        double sum = z0 == null ? 0 : Math.exp(z0[d.zi(b, h, a)] - m);
                        for (int s = 0; s <= t; s++) {
                            sum += Math.exp(k[d.qi(b, s, h, a)] - m);
                        }
                        z[d.qi(b, t, h, a)] = m + Math.log(sum);
                    }
                }
            }
        }
        return z;
    }

    /** S_t[a, c] for one (b, h, t, a, c). */
    private static double state(
            Dims d, double[] k, double[] v, double[] s0, double[] z0, double[] z, int b, int h, int t, int a, int c) {
        double zt = z[d.qi(b, t, h, a)];
        double acc = s0 == null ? 0 : Math.exp(z0[d.zi(b, h, a)] - zt) * s0[d.si(b, h, a, c)];
        for (int s = 0; s <= t; s++) {
            acc += Math.exp(k[d.qi(b, s, h, a)] - zt) * v[d.vi(b, s, h, c)];
        }
        return acc;
    }

    public static Forward forward(Dims d, double[] q, double[] k, double[] v, double[] s0, double[] z0) {
        double[] z = logNormalisers(d, k, z0);
        double[] o = new double[d.b() * d.t() * d.h() * d.dv()];
        double[] sT = new double[d.b() * d.h() * d.dk() * d.dv()];
        double[] zT = new double[d.b() * d.h() * d.dk()];
        int last = d.t() - 1;
        for (int b = 0; b < d.b(); b++) {
            for (int h = 0; h < d.h(); h++) {
                for (int a = 0; a < d.dk(); a++) {
                    zT[d.zi(b, h, a)] = z[d.qi(b, last, h, a)];
                    for (int c = 0; c < d.dv(); c++) {
                        for (int t = 0; t < d.t(); t++) {
                            o[d.vi(b, t, h, c)] += q[d.qi(b, t, h, a)] * state(d, k, v, s0, z0, z, b, h, t, a, c);
                        }
                        sT[d.si(b, h, a, c)] = state(d, k, v, s0, z0, z, b, h, last, a, c);
                    }
                }
            }
        }
        return new Forward(o, sT, zT);
    }

    /**
     * Gradients of L given dL/do (g), dL/dS_T (dsT, nullable) and dL/dz_T (dzT, nullable). With G_t = q_t ⊗ g_t
     * (+ dS_T at the last step), S_t = e^{−z_t}·U_t and z_t = log Z_t:
     * dL/dz_t = −Σ_c G_t S_t (+ dz_T at the last step), dk_s = Σ_{t≥s} e^{k_s−z_t}(Σ_c G_t v_s + dL/dz_t),
     * dv_s = Σ_{t≥s} Σ_a e^{k_s−z_t} G_t, dS_0 = Σ_t e^{z_0−z_t} G_t, dz_0 = Σ_t e^{z_0−z_t}(Σ_c G_t S_0 + dL/dz_t).
     */
    public static Backward backward(
            Dims d,
            double[] q,
            double[] k,
            double[] v,
            double[] s0,
            double[] z0,
            double[] g,
            double[] dsT,
            double[] dzT) {
        double[] z = logNormalisers(d, k, z0);
        double[] dq = new double[q.length];
        double[] dk = new double[k.length];
        double[] dv = new double[v.length];
        double[] ds0 = s0 == null ? null : new double[s0.length];
        double[] dz0 = s0 == null ? null : new double[z0.length];
        int n = d.t(), e = d.dv(), last = n - 1;
        for (int b = 0; b < d.b(); b++) {
            for (int h = 0; h < d.h(); h++) {
                for (int a = 0; a < d.dk(); a++) {
                    double[][] gt = new double[n][e];
                    double[] dz = new double[n];
                    for (int t = 0; t < n; t++) {
                        double qa = q[d.qi(b, t, h, a)];
                        double dqa = 0;
                        for (int c = 0; c < e; c++) {
                            double st = state(d, k, v, s0, z0, z, b, h, t, a, c);
                            double gg = g[d.vi(b, t, h, c)];
                            dqa += gg * st;
                            gt[t][c] = qa * gg + (t == last && dsT != null ? dsT[d.si(b, h, a, c)] : 0);
                            dz[t] -= gt[t][c] * st;
                        }
                        dq[d.qi(b, t, h, a)] = dqa;
                    }
                    if (dzT != null) {
                        dz[last] += dzT[d.zi(b, h, a)];
                    }
                    for (int s = 0; s < n; s++) {
                        double ks = k[d.qi(b, s, h, a)];
                        double dks = 0;
                        for (int t = s; t < n; t++) {
                            double w = Math.exp(ks - z[d.qi(b, t, h, a)]);
                            double gv = 0;
                            for (int c = 0; c < e; c++) {
                                gv += gt[t][c] * v[d.vi(b, s, h, c)];
                                dv[d.vi(b, s, h, c)] += w * gt[t][c];
                            }
                            dks += w * (gv + dz[t]);
                        }
                        dk[d.qi(b, s, h, a)] = dks;
                    }
                    if (s0 != null) {
                        double z0a = z0[d.zi(b, h, a)];
                        double acc = 0;
                        for (int t = 0; t < n; t++) {
                            double w = Math.exp(z0a - z[d.qi(b, t, h, a)]);
                            double gs = 0;
                            for (int c = 0; c < e; c++) {
                                ds0[d.si(b, h, a, c)] += w * gt[t][c];
                                gs += gt[t][c] * s0[d.si(b, h, a, c)];
                            }
                            acc += w * (gs + dz[t]);
                        }
                        dz0[d.zi(b, h, a)] = acc;
                    }
                }
            }
        }
        return new Backward(dq, dk, dv, ds0, dz0);
    }
}
