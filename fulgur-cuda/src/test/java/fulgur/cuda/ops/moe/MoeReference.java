package fulgur.cuda.ops.moe;

import java.util.Arrays;
import java.util.stream.IntStream;

/**
 * A mixture-of-experts layer in f64, token by token, with its gradients: the oracle of the CUDA MoE kernels, with the
 * semantics of {@code fulgur.nn.moe.MoeFeedForward} (checked against it in {@link MoeReferenceTest}). Experts are the
 * gated FFN w2(silu(w1 x) ⊙ w3 x) with stacked weights w1, w3 [E, F, D], w2 [E, D, F]; the router logits are an input.
 */
final class MoeReference {
    private MoeReference() {}

    record Config(int experts, int topK, boolean sigmoid, boolean normalize, double auxCoef) {}

    /** Routing: picks [N, k], gates [N, k], counts [E], offsets [E+1], rows [N, k] (stable expert order), the aux loss. */
    record Routing(
            int[] top,
            double[] gates,
            int[] counts,
            int[] offsets,
            int[] rows,
            int[] tokenOfRow,
            double aux,
            double[] probs) {}

    /**
     * The layer's outputs and gradients; {@code dLogitsScale} [N, E] is what d logits would be if the terms that cancel in
     * it (the gate gradient minus its gate-weighted mean under renormalisation, the softmax's u - p.u) were added by
     * magnitude: it bounds the rounding error of a correct f32 computation, and is far above d logits itself where they
     * cancel exactly (top-1 with renormalised gates: the gate is identically 1).
     */
    record Result(
            Routing routing,
            double[] out,
            double[] dGates,
            double[] dx,
            double[] dw1,
            double[] dw3,
            double[] dw2,
            double[] dLogits,
            double[] dLogitsScale) {}

    static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    static Routing route(Config c, int n, double[] logits) {
        int e = c.experts(), k = c.topK();
        int[] top = new int[n * k];
        double[] gates = new double[n * k], probs = new double[n * e];
        for (int t = 0; t < n; t++) {
            double m = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < e; i++) m = Math.max(m, logits[t * e + i]);
            double s = 0;
            for (int i = 0; i < e; i++) s += Math.exp(logits[t * e + i] - m);
            for (int i = 0; i < e; i++) probs[t * e + i] = Math.exp(logits[t * e + i] - m) / s;
            final int tt = t;
            Integer[] order = new Integer[e];
            for (int i = 0; i < e; i++) order[i] = i;
            Arrays.sort(order, (a, b) -> {
                int cmp = Double.compare(logits[tt * e + b], logits[tt * e + a]);
                return cmp != 0 ? cmp : Integer.compare(a, b);
            });
            double sum = 0;
            for (int j = 0; j < k; j++) {
                top[t * k + j] = order[j];
                double raw = c.sigmoid() ? sigmoid(logits[t * e + order[j]]) : probs[t * e + order[j]];
                gates[t * k + j] = raw;
                sum += raw;
            }
            if (c.normalize()) for (int j = 0; j < k; j++) gates[t * k + j] /= sum;
        }
        int[] counts = new int[e];
        for (int p : top) counts[p]++;
        int[] offsets = new int[e + 1];
        for (int i = 0; i < e; i++) offsets[i + 1] = offsets[i] + counts[i];
        int[] fill = Arrays.copyOf(offsets, e);
        int[] rows = new int[n * k], tokenOf = new int[n * k];
        for (int p = 0; p < n * k; p++) {
            rows[p] = fill[top[p]]++;
            tokenOf[rows[p]] = p / k;
        }
        double aux = 0;
        for (int i = 0; i < e; i++) {
            double meanP = 0;
            for (int t = 0; t < n; t++) meanP += probs[t * e + i];
            aux += (double) counts[i] / n * meanP / n;
        }
        aux *= c.auxCoef() * e;
        return new Routing(top, gates, counts, offsets, rows, tokenOf, aux, probs);
    }

    /** Forward and backward for dOut [N, D] and the aux loss's gradient dAux. */
    static Result run(
            Config c,
            int n,
            int dim,
            int hidden,
            double[] logits,
            double[] x,
            double[] w1,
            double[] w3,
            double[] w2,
            double[] dOut,
            double dAux) {
        Routing r = route(c, n, logits);
        int e = c.experts(), k = c.topK();
        double[] out = new double[n * dim], dx = new double[n * dim], dGates = new double[n * k];
        double[] dw1 = new double[e * hidden * dim],
                dw3 = new double[e * hidden * dim],
                dw2 = new double[e * dim * hidden];
        // per token (parallel): out, dGates, dx; weight gradients per expert afterwards (deterministic order)
        double[][] h1s = new double[n * k][],
                h3s = new double[n * k][],
                dh1s = new double[n * k][],
                dh3s = new double[n * k][];
        double[][] dys = new double[n * k][];
        IntStream.range(0, n).parallel().forEach(t -> {
            for (int j = 0; j < k; j++) {
                int p = t * k + j, ex = r.top()[p];
                double g = r.gates()[p];
                double[] h1 = new double[hidden], h3 = new double[hidden], h = new double[hidden], y = new double[dim];
                for (int f = 0; f < hidden; f++) {
                    double a = 0, b = 0;
                    for (int d = 0; d < dim; d++) {
                        a += w1[(ex * hidden + f) * dim + d] * x[t * dim + d];
                        b += w3[(ex * hidden + f) * dim + d] * x[t * dim + d];
                    }
                    h1[f] = a;
                    h3[f] = b;
                    h[f] = a * sigmoid(a) * b;
                }
                for (int d = 0; d < dim; d++) {
                    double acc = 0;
                    for (int f = 0; f < hidden; f++) acc += w2[(ex * dim + d) * hidden + f] * h[f];
                    y[d] = acc;
                    out[t * dim + d] += g * acc;
                }
                double dg = 0;
                double[] dy = new double[dim];
                for (int d = 0; d < dim; d++) {
                    dg += dOut[t * dim + d] * y[d];
                    dy[d] = g * dOut[t * dim + d];
                }
                dGates[p] = dg;
                double[] dh1 = new double[hidden], dh3 = new double[hidden];
                for (int f = 0; f < hidden; f++) {
                    double dh = 0;
                    for (int d = 0; d < dim; d++) dh += w2[(ex * dim + d) * hidden + f] * dy[d];
                    double s = sigmoid(h1[f]);
                    dh1[f] = dh * h3[f] * s * (1 + h1[f] * (1 - s));
                    dh3[f] = dh * h1[f] * s;
                }
                for (int d = 0; d < dim; d++) {
                    double acc = 0;
                    for (int f = 0; f < hidden; f++)
                        acc += w1[(ex * hidden + f) * dim + d] * dh1[f] + w3[(ex * hidden + f) * dim + d] * dh3[f];
                    dx[t * dim + d] += acc;
                }
                h1s[p] = h1;
                h3s[p] = h3;
                dh1s[p] = dh1;
                dh3s[p] = dh3;
                dys[p] = dy;
            }
        });
        IntStream.range(0, e).parallel().forEach(ex -> {
            for (int p = 0; p < n * k; p++) {
                if (r.top()[p] != ex) continue;
                int t = p / k;
                double[] h1 = h1s[p], h3 = h3s[p], dh1 = dh1s[p], dh3 = dh3s[p], dy = dys[p];
                for (int f = 0; f < hidden; f++) {
                    double hf = h1[f] * sigmoid(h1[f]) * h3[f];
                    for (int d = 0; d < dim; d++) {
                        dw1[(ex * hidden + f) * dim + d] += dh1[f] * x[t * dim + d];
                        dw3[(ex * hidden + f) * dim + d] += dh3[f] * x[t * dim + d];
                        dw2[(ex * dim + d) * hidden + f] += dy[d] * hf;
                    }
                }
            }
        });
        double[] dLogits = routeBackward(c, n, logits, r, dGates, dAux, false);
        double[] dLogitsScale = routeBackward(c, n, logits, r, dGates, dAux, true);
        return new Result(r, out, dGates, dx, dw1, dw3, dw2, dLogits, dLogitsScale);
    }

    /**
     * d logits [N, E] from d gates [N, k] and the aux loss's gradient; with {@code magnitudes}, the same sums over the
     * absolute values of their terms (the scale of the cancellation, see {@link Result}).
     */
    static double[] routeBackward(
            Config c, int n, double[] logits, Routing r, double[] dGates, double dAux, boolean magnitudes) {
        int e = c.experts(), k = c.topK();
        double[] dl = new double[n * e];
        for (int t = 0; t < n; t++) {
            double[] raw = new double[k], dg = new double[k];
            double sum = 0, dot = 0;
            for (int j = 0; j < k; j++) {
                int ex = r.top()[t * k + j];
                raw[j] = c.sigmoid() ? sigmoid(logits[t * e + ex]) : r.probs()[t * e + ex];
                sum += raw[j];
                dg[j] = magnitudes ? Math.abs(dGates[t * k + j]) : dGates[t * k + j];
                dot += r.gates()[t * k + j] * dg[j];
            }
            if (c.normalize()) for (int j = 0; j < k; j++) dg[j] = (magnitudes ? dg[j] + dot : dg[j] - dot) / sum;
            double[] u = new double[e];
            for (int i = 0; i < e; i++) {
                double a = dAux * c.auxCoef() * e * r.counts()[i] / ((double) n * n);
                u[i] = magnitudes ? Math.abs(a) : a;
            }
            for (int j = 0; j < k; j++) {
                int ex = r.top()[t * k + j];
                if (c.sigmoid()) {
                    double s = sigmoid(logits[t * e + ex]);
                    dl[t * e + ex] += dg[j] * s * (1 - s);
                } else {
                    u[ex] += dg[j];
                }
            }
            double pu = 0;
            for (int i = 0; i < e; i++) pu += r.probs()[t * e + i] * u[i];
            for (int i = 0; i < e; i++) dl[t * e + i] += r.probs()[t * e + i] * (magnitudes ? u[i] + pu : u[i] - pu);
        }
        return dl;
    }
}
