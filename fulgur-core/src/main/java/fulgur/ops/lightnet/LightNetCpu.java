package fulgur.ops.lightnet;

import fulgur.autograd.GradMode;
import fulgur.backend.cpu.Parallel;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.util.Arrays;

/**
 * The CPU's {@link LightNetKernels}: the recurrence
 * run token by token per (sequence, head) in f64, O(T·dk·dv) — no chunk-quadratic term. Per key channel a:
 * <pre>
 *   z_t = logaddexp(z_{t−1}, k_t)    α_t = e^{z_{t−1} − z_t}    κ_t = e^{k_t − z_t}      (both ≤ 1)
 *   S_t = α_t S_{t−1} + κ_t v_t      o_t = Σ_a q_t[a] S_t[a,:]
 * </pre>
 * The backward runs the recurrence in reverse: with dS the gradient reaching S_t and dz the one reaching z_t,
 * dα = Σ_c dS·S_{t−1}, dκ = Σ_c dS·v_t, then dz_t ← dz − α dα − κ dκ, dk_t = κ (dκ + dz_t), dz_{t−1} = α (dα + dz_t),
 * dS_{t−1} = α dS. States are recomputed segment by segment from checkpoints every {@link #SEGMENT} tokens, so the
 * backward holds O((T/SEGMENT + SEGMENT)·dk·dv) per head.
 *
 * <p>Packed result: output [B, T, H, dv], then (when asked for) the final S [B, H, dk, dv] and the final z [B, H, dk], in
 * the compute type (f32, or f64 for f64 inputs). Arguments are validated by {@link LightNet}.
 */
public final class LightNetCpu implements LightNetKernels {
    static final int SEGMENT = 64;

    public static final LightNetCpu INSTANCE = new LightNetCpu();

    private LightNetCpu() {}

    @Override
    public Tensor forward(Tensor q, Tensor k, Tensor v, Tensor s0, Tensor z0, boolean wantFinal) {
        Dims d = Dims.of(q, v);
        try (var g = GradMode.noGrad()) {
            double[] qa = q.toDoubleArray(), ka = k.toDoubleArray(), va = v.toDoubleArray();
            double[] sa = s0 == null ? null : s0.toDoubleArray();
            double[] za = z0 == null ? null : z0.toDoubleArray();
            double[] packed = new double[d.outLen() + d.sLen() + d.zLen()];
            Parallel.forRange(d.b * d.h, 1, (u0, u1) -> {
                double[] s = new double[d.dk * d.dv];
                double[] z = new double[d.dk];
                for (int u = u0; u < u1; u++) {
                    int b = u / d.h, h = u % d.h;
                    loadState(d, sa, za, b, h, s, z);
                    for (int t = 0; t < d.t; t++) {
                        step(d, qa, ka, va, b, t, h, s, z, packed);
                    }
                    System.arraycopy(s, 0, packed, d.outLen() + u * d.dk * d.dv, d.dk * d.dv);
                    System.arraycopy(z, 0, packed, d.outLen() + d.sLen() + u * d.dk, d.dk);
                }
            });
            double[] result = wantFinal ? packed : Arrays.copyOf(packed, d.outLen());
            return Tensor.of(computeType(q), result, result.length);
        }
    }

    /** Gradients {dq, dk, dv, dS0, dz0} (the last two null without an initial state) from the packed gradient. */
    @Override
    public Tensor[] backward(Tensor q, Tensor k, Tensor v, Tensor s0, Tensor z0, boolean wantFinal, Tensor packedGrad) {
        Dims d = Dims.of(q, v);
        try (var gm = GradMode.noGrad()) {
            double[] qa = q.toDoubleArray(), ka = k.toDoubleArray(), va = v.toDoubleArray();
            double[] sa = s0 == null ? null : s0.toDoubleArray();
            double[] za = z0 == null ? null : z0.toDoubleArray();
            double[] g = packedGrad.toDoubleArray();
            double[] dq = new double[qa.length], dk = new double[ka.length], dv = new double[va.length];
            double[] ds0 = sa == null ? null : new double[sa.length];
            double[] dz0 = sa == null ? null : new double[za.length];
            int de = d.dk * d.dv;
            int segments = (d.t + SEGMENT - 1) / SEGMENT;
            Parallel.forRange(d.b * d.h, 1, (u0, u1) -> {
                double[] marks = new double[segments * (de + d.dk)]; // S and z before each segment
                double[] states = new double[SEGMENT * (de + d.dk)]; // S_t and z_t within the segment being undone
                double[] s = new double[de], z = new double[d.dk];
                double[] dS = new double[de], dz = new double[d.dk];
                for (int u = u0; u < u1; u++) {
                    int b = u / d.h, h = u % d.h;
                    loadState(d, sa, za, b, h, s, z);
                    for (int t = 0; t < d.t; t++) {
                        if (t % SEGMENT == 0) {
                            int m = t / SEGMENT * (de + d.dk);
                            System.arraycopy(s, 0, marks, m, de);
                            System.arraycopy(z, 0, marks, m + de, d.dk);
                        }
                        step(d, qa, ka, va, b, t, h, s, z, null);
                    }
                    if (wantFinal) {
                        System.arraycopy(g, d.outLen() + u * de, dS, 0, de);
                        System.arraycopy(g, d.outLen() + d.sLen() + u * d.dk, dz, 0, d.dk);
                    } else {
                        Arrays.fill(dS, 0);
                        Arrays.fill(dz, 0);
                    }
                    for (int seg = segments - 1; seg >= 0; seg--) {
                        int t0 = seg * SEGMENT, t1 = Math.min(d.t, t0 + SEGMENT);
                        int m = seg * (de + d.dk);
                        System.arraycopy(marks, m, s, 0, de);
                        System.arraycopy(marks, m + de, z, 0, d.dk);
                        for (int t = t0; t < t1; t++) {
                            step(d, qa, ka, va, b, t, h, s, z, null);
                            System.arraycopy(s, 0, states, (t - t0) * (de + d.dk), de);
                            System.arraycopy(z, 0, states, (t - t0) * (de + d.dk) + de, d.dk);
                        }
                        for (int t = t1 - 1; t >= t0; t--) {
                            int cur = (t - t0) * (de + d.dk);
                            double[] prevArr = t > t0 ? states : marks;
                            int prev = t > t0 ? cur - (de + d.dk) : m;
                            boolean empty = t == 0 && sa == null; // no S_{−1}, z_{−1} = −∞
                            int qo = d.qi(b, t, h), vo = d.vi(b, t, h);
                            // o_t = q_t S_t
                            for (int a = 0; a < d.dk; a++) {
                                double qa1 = qa[qo + a], acc = 0;
                                for (int c = 0; c < d.dv; c++) {
                                    double gc = g[vo + c];
                                    acc += gc * states[cur + a * d.dv + c];
                                    dS[a * d.dv + c] += qa1 * gc;
                                }
                                dq[qo + a] = acc;
                            }
                            for (int a = 0; a < d.dk; a++) {
                                double zt = states[cur + de + a];
                                double zp = empty ? Double.NEGATIVE_INFINITY : prevArr[prev + de + a];
                                double alpha = empty ? 0 : Math.exp(zp - zt);
                                double kappa = Math.exp(ka[qo + a] - zt);
                                double dAlpha = 0, dKappa = 0;
                                int ro = a * d.dv;
                                for (int c = 0; c < d.dv; c++) {
                                    double gs = dS[ro + c];
                                    dKappa += gs * va[vo + c];
                                    dv[vo + c] += kappa * gs;
                                    if (!empty) {
                                        dAlpha += gs * prevArr[prev + ro + c];
                                    }
                                    dS[ro + c] = alpha * gs;
                                }
                                double dzt = dz[a] - alpha * dAlpha - kappa * dKappa;
                                dk[qo + a] = kappa * (dKappa + dzt);
                                dz[a] = alpha * (dAlpha + dzt);
                            }
                        }
                    }
                    if (ds0 != null) {
                        System.arraycopy(dS, 0, ds0, u * de, de);
                        System.arraycopy(dz, 0, dz0, u * d.dk, d.dk);
                    }
                }
            });
            DType ct = computeType(q);
            return new Tensor[] {
                Tensor.of(ct, dq, q.shape()),
                Tensor.of(ct, dk, k.shape()),
                Tensor.of(ct, dv, v.shape()),
                ds0 == null ? null : Tensor.of(ct, ds0, s0.shape()),
                dz0 == null ? null : Tensor.of(ct, dz0, z0.shape())
            };
        }
    }

    private static DType computeType(Tensor q) {
        return q.dtype() == DType.F64 ? DType.F64 : DType.F32;
    }

    private static void loadState(Dims d, double[] sa, double[] za, int b, int h, double[] s, double[] z) {
        int u = b * d.h + h;
        if (sa == null) {
            Arrays.fill(s, 0);
            Arrays.fill(z, Double.NEGATIVE_INFINITY);
        } else {
            System.arraycopy(sa, u * d.dk * d.dv, s, 0, d.dk * d.dv);
            System.arraycopy(za, u * d.dk, z, 0, d.dk);
        }
    }

    /** One token: advances s, z; writes o_t into {@code out} when not null. */
    private static void step(
            Dims d, double[] q, double[] k, double[] v, int b, int t, int h, double[] s, double[] z, double[] out) {
        int qo = d.qi(b, t, h), vo = d.vi(b, t, h);
        if (out != null) {
            Arrays.fill(out, vo, vo + d.dv, 0);
        }
        for (int a = 0; a < d.dk; a++) {
            double ka = k[qo + a], za = z[a];
            double zn =
                    za == Double.NEGATIVE_INFINITY ? ka : Math.max(za, ka) + Math.log1p(Math.exp(-Math.abs(za - ka)));
            double alpha = za == Double.NEGATIVE_INFINITY ? 0 : Math.exp(za - zn);
            double kappa = Math.exp(ka - zn);
            z[a] = zn;
            int ro = a * d.dv;
            double qa = q[qo + a];
            for (int c = 0; c < d.dv; c++) {
                double sv = alpha * s[ro + c] + kappa * v[vo + c];
                s[ro + c] = sv;
                if (out != null) {
                    out[vo + c] += qa * sv;
                }
            }
        }
    }

    /** Sizes and row-major offsets of q, k [B,T,H,dk] and v [B,T,H,dv]. */
    private record Dims(int b, int t, int h, int dk, int dv) {
        static Dims of(Tensor q, Tensor v) {
            return new Dims(q.size(0), q.size(1), q.size(2), q.size(3), v.size(3));
        }

        int qi(int bb, int tt, int hh) {
            return ((bb * t + tt) * h + hh) * dk;
        }

        int vi(int bb, int tt, int hh) {
            return ((bb * t + tt) * h + hh) * dv;
        }

        int outLen() {
            return b * t * h * dv;
        }

        int sLen() {
            return b * h * dk * dv;
        }

        int zLen() {
            return b * h * dk;
        }
    }
}
