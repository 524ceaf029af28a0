package fulgur.cuda.ops.attention;

import java.util.stream.IntStream;

/**
 * Softmax attention in f64, straight from the definition, with its gradients: the oracle of the CUDA kernels.
 * Layout [B, T, H, D] (row-major), grouped key/value heads (query head h reads head h / (H / Hkv)), causal masking
 * aligned bottom-right (query i sees key j iff j <= i + Tk - Tq), packed sequences through cumulative starts (B = 1).
 * The log-sum-exp is [B, H, Tq], -inf for a row that sees no key (its output and gradients are zero).
 */
final class AttentionReference {
    private AttentionReference() {}

    record Result(double[] o, double[] lse, double[] dq, double[] dk, double[] dv) {}

    /** Equal-length batches: cuQ = cuK = null. */
    static Result run(
            int b,
            int tq,
            int tk,
            int h,
            int hk,
            int d,
            double[] q,
            double[] k,
            double[] v,
            double[] dout,
            double scale,
            boolean causal) {
        return run(b, tq, tk, h, hk, d, q, k, v, dout, scale, causal, null, null);
    }

    static Result run(
            int b,
            int tq,
            int tk,
            int h,
            int hk,
            int d,
            double[] q,
            double[] k,
            double[] v,
            double[] dout,
            double scale,
            boolean causal,
            int[] cuQ,
            int[] cuK) {
        double[] o = new double[q.length], lse = new double[b * h * tq], dq = new double[q.length];
        double[] dk = new double[k.length], dv = new double[v.length];
        int seqs = cuQ == null ? b : cuQ.length - 1;
        int group = h / hk;
        // one task per (sequence, kv head): it alone writes that head's dk, dv rows
        IntStream.range(0, seqs * hk).parallel().forEach(task -> {
            int n = task / hk, g = task % hk;
            int bt = cuQ == null ? n : 0;
            int qs = cuQ == null ? 0 : cuQ[n], ql = cuQ == null ? tq : cuQ[n + 1] - cuQ[n];
            int ks = cuK == null ? 0 : cuK[n], kl = cuK == null ? tk : cuK[n + 1] - cuK[n];
            int off = kl - ql;
            double[] s = new double[kl], p = new double[kl], dp = new double[kl];
            for (int hh = 0; hh < group; hh++) {
                int head = g * group + hh;
                for (int i = 0; i < ql; i++) {
                    int qi = ((bt * tq + qs + i) * h + head) * d;
                    int li = (bt * h + head) * tq + qs + i;
                    int visible = causal ? Math.max(0, Math.min(kl, i + off + 1)) : kl;
                    if (visible == 0) {
                        lse[li] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    double m = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < visible; j++) {
                        int kj = ((bt * tk + ks + j) * hk + g) * d;
                        double acc = 0;
                        for (int e = 0; e < d; e++) acc += q[qi + e] * k[kj + e];
                        s[j] = scale * acc;
                        m = Math.max(m, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < visible; j++) sum += Math.exp(s[j] - m);
                    double l = m + Math.log(sum);
                    lse[li] = l;
                    double dl = 0;
                    for (int j = 0; j < visible; j++) {
                        p[j] = Math.exp(s[j] - l);
                        int vj = ((bt * tk + ks + j) * hk + g) * d;
                        double acc = 0;
                        for (int e = 0; e < d; e++) {
                            o[qi + e] += p[j] * v[vj + e];
                            acc += dout[qi + e] * v[vj + e];
                        }
                        dp[j] = acc;
                        dl += p[j] * acc;
                    }
                    for (int j = 0; j < visible; j++) {
                        double ds = p[j] * (dp[j] - dl);
                        int kj = ((bt * tk + ks + j) * hk + g) * d;
                        for (int e = 0; e < d; e++) {
                            dq[qi + e] += scale * ds * k[kj + e];
                            dk[kj + e] += scale * ds * q[qi + e];
                            dv[kj + e] += p[j] * dout[qi + e];
                        }
                    }
                }
            }
        });
        return new Result(o, lse, dq, dk, dv);
    }
}
