package fulgur.layers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.layers.MoeFeedForward.Gating;
import fulgur.layers.MoeFeedForward.Routing;
import fulgur.nn.Parameter;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import fulgur.testing.Ref;
import fulgur.testing.ScopedTest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** MoeFeedForward against a per-token loop, its gradients, the auxiliary loss, drop-less dispatch and names. */
class MoeFeedForwardTest extends ScopedTest {

    static MoeFeedForward moe(int d, int f, Routing r, long seed) {
        return new MoeFeedForward(d, f, r, new Rng(seed), DType.F64);
    }

    static double[] w(MoeFeedForward m, String name) {
        return m.stateDict().get(name).toDoubleArray();
    }

    /** The straightforward oracle: for each token, score every expert, take the k best, sum their weighted FFNs. */
    static double[] naive(MoeFeedForward m, double[] x) {
        int d = m.dim();
        int f = m.hidden();
        Routing r = m.routing();
        int e = r.experts();
        int n = x.length / d;
        double[] g = w(m, "gate.weight");
        double[] out = new double[n * d];
        for (int t = 0; t < n; t++) {
            double[] logit = new double[e];
            for (int i = 0; i < e; i++) {
                for (int c = 0; c < d; c++) {
                    logit[i] += g[i * d + c] * x[t * d + c];
                }
            }
            double[] score = r.gating() == Gating.SOFTMAX
                    ? softmax(logit)
                    : Arrays.stream(logit).map(v -> 1 / (1 + Math.exp(-v))).toArray();
            Integer[] order = new Integer[e];
            Arrays.setAll(order, i -> i);
            Arrays.sort(
                    order, (a, b) -> logit[a] != logit[b] ? Double.compare(logit[b], logit[a]) : Integer.compare(a, b));
            double norm = 0;
            for (int j = 0; j < r.topK(); j++) {
                norm += score[order[j]];
            }
            for (int j = 0; j < r.topK(); j++) {
                int ex = order[j];
                double gw = score[ex] / (r.normalizeTopK() ? norm : 1);
                double[] w1 = w(m, "experts." + ex + ".w1.weight");
                double[] w2 = w(m, "experts." + ex + ".w2.weight");
                double[] w3 = w(m, "experts." + ex + ".w3.weight");
                double[] h = new double[f];
                for (int u = 0; u < f; u++) {
                    double a = 0;
                    double b = 0;
                    for (int c = 0; c < d; c++) {
                        a += w1[u * d + c] * x[t * d + c];
                        b += w3[u * d + c] * x[t * d + c];
                    }
                    h[u] = a / (1 + Math.exp(-a)) * b;
                }
                for (int c = 0; c < d; c++) {
                    double y = 0;
                    for (int u = 0; u < f; u++) {
                        y += w2[c * f + u] * h[u];
                    }
                    out[t * d + c] += gw * y;
                }
            }
        }
        return out;
    }

    static double[] softmax(double[] v) {
        double mx = Arrays.stream(v).max().orElseThrow();
        double[] p = Arrays.stream(v).map(a -> Math.exp(a - mx)).toArray();
        double s = Arrays.stream(p).sum();
        return Arrays.stream(p).map(a -> a / s).toArray();
    }

    /** α·E·Σ_i f_i P_i by hand: f_i = share of tokens with expert i among their k, P_i = mean full-softmax probability. */
    static double naiveAux(MoeFeedForward m, double[] x) {
        int d = m.dim();
        Routing r = m.routing();
        int e = r.experts();
        int n = x.length / d;
        double[] g = w(m, "gate.weight");
        double[] f = new double[e];
        double[] p = new double[e];
        for (int t = 0; t < n; t++) {
            double[] logit = new double[e];
            for (int i = 0; i < e; i++) {
                for (int c = 0; c < d; c++) {
                    logit[i] += g[i * d + c] * x[t * d + c];
                }
            }
            double[] s = softmax(logit);
            boolean[] taken = new boolean[e];
            for (int j = 0; j < r.topK(); j++) {
                int best = -1;
                for (int i = 0; i < e; i++) {
                    if (!taken[i] && (best < 0 || logit[i] > logit[best])) {
                        best = i;
                    }
                }
                taken[best] = true;
                f[best] += 1.0 / n;
            }
            for (int i = 0; i < e; i++) {
                p[i] += s[i] / n;
            }
        }
        double sum = 0;
        for (int i = 0; i < e; i++) {
            sum += f[i] * p[i];
        }
        return r.auxLossCoef() * e * sum;
    }

    @ParameterizedTest
    @CsvSource({"SOFTMAX, true", "SOFTMAX, false", "SIGMOID, true", "SIGMOID, false"})
    void equalsAPerTokenLoopWith32ExpertsTop2(Gating gating, boolean normalize) {
        MoeFeedForward m = moe(6, 5, new Routing(32, 2, gating, normalize, 0.01), 3);
        double[] x = Ref.normal(4, 3 * 23 * 6, 1.5); // 69 tokens: not a multiple of anything useful
        Tensor out = m.forward(Tensor.of(x, 3, 23, 6));
        assertThat(out.shape()).containsExactly(3, 23, 6);
        assertThat(GradCheck.relErr(out.toDoubleArray(), naive(m, x))).isLessThan(1e-12);
        assertThat(m.auxLoss().item()).isCloseTo(naiveAux(m, x), org.assertj.core.data.Offset.offset(1e-14));
        assertThat(Arrays.stream(m.tokensPerExpert()).sum()).isEqualTo(69 * 2);
    }

    @Test
    void softmaxOverTheTopKLogitsIsTheMiniMaxFormula() {
        MoeFeedForward m = moe(4, 3, new Routing(8, 3, Gating.SOFTMAX, true, 0.01), 5);
        double[] x = Ref.normal(6, 4, 1);
        double[] got = m.forward(Tensor.of(x, 1, 4)).toDoubleArray();
        // h = Σ_{i∈TopK} softmax_i(TopK(x W_g)) FFN_i(x), computed with the softmax over the k kept logits only
        double[] logits = m.gate().forward(Tensor.of(x, 1, 4)).toDoubleArray();
        long[] top = fulgur.ops.Indexing.topkIndices(Tensor.of(logits, 1, 8), 3).toLongArray();
        double[] kept = new double[3];
        for (int j = 0; j < 3; j++) {
            kept[j] = logits[(int) top[j]];
        }
        double[] g = softmax(kept);
        double[] expect = new double[4];
        for (int j = 0; j < 3; j++) {
            double[] y =
                    m.experts().get((int) top[j]).forward(Tensor.of(x, 1, 4)).toDoubleArray();
            for (int c = 0; c < 4; c++) {
                expect[c] += g[j] * y[c];
            }
        }
        assertThat(GradCheck.relErr(got, expect)).isLessThan(1e-13);
    }

    @Test
    void gradientsOfInputsRouterAndExperts() {
        for (Gating gating : Gating.values()) {
            MoeFeedForward m = moe(3, 2, new Routing(4, 2, gating, gating == Gating.SOFTMAX, 0.01), 7);
            Tensor x = Tensor.of(Ref.normal(8, 7 * 3, 1), 7, 3);
            m.forward(x);
            List<Tensor> inputs = new ArrayList<>(List.of(x, m.gate().weight().value()));
            int[] counts = m.tokensPerExpert();
            int used = 0;
            for (int i = 0; i < counts.length; i++) {
                if (counts[i] > 0) { // an expert without tokens gets no gradient at all
                    used++;
                    for (String l : new String[] {"w1", "w2", "w3"}) {
                        inputs.add(m.stateDict().get("experts." + i + "." + l + ".weight"));
                    }
                }
            }
            assertThat(used).isGreaterThanOrEqualTo(3);
            GradCheck.check(t -> m.forward(t[0]), inputs.toArray(Tensor[]::new));
            GradCheck.check(
                    t -> {
                        m.forward(t[0]);
                        return m.auxLoss();
                    },
                    x,
                    m.gate().weight().value());
        }
    }

    @Test
    void routesByLogitsTheCallerGives() {
        MoeFeedForward m = moe(4, 3, new Routing(6, 2, Gating.SOFTMAX, true, 0.01), 31);
        Tensor x = Tensor.of(Ref.normal(32, 9 * 4, 1), 9, 4);
        double[] byGate = m.forward(x).toDoubleArray();
        double aux = m.auxLoss().item();
        assertThat(m.forward(x, m.gate().forward(x)).toDoubleArray()).containsExactly(byGate);
        assertThat(m.auxLoss().item()).isEqualTo(aux);
        double[] l = Ref.normal(33, 9 * 6, 1);
        for (int t = 0; t < 9; t++) {
            l[t * 6 + 5] = 10; // expert 5 first for every token
        }
        Tensor logits = Tensor.of(l, 9, 6);
        m.forward(x, logits);
        assertThat(m.tokensPerExpert()[5]).isEqualTo(9);
        assertThat(m.routerLogits()).isSameAs(logits);
        GradCheck.check(t -> m.forward(x, t[0]), logits);
        assertThatThrownBy(() -> m.forward(x, Tensor.zeros(DType.F64, 9, 5)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("router logits")
                .hasMessageContaining("[9, 6]");
    }

    @Test
    void uniformRouterGivesAuxLossAlphaTimesK() {
        MoeFeedForward m = moe(4, 3, new Routing(8, 2, Gating.SOFTMAX, true, 0.01), 9);
        m.gate().weight().value().copyFrom(Tensor.zeros(DType.F64, 8, 4));
        m.forward(Tensor.of(Ref.normal(10, 5 * 4, 1), 5, 4));
        // all logits tie: every token takes experts 0 and 1, f = (1, 1, 0, …), P = 1/E ⇒ α·E·(2/E) = 2α
        assertThat(m.auxLoss().item()).isCloseTo(0.02, org.assertj.core.data.Offset.offset(1e-15));
        assertThat(m.tokensPerExpert()).containsExactly(5, 5, 0, 0, 0, 0, 0, 0);
    }

    @Test
    void modelLevelLossConcatenatesTheLayersLogitsAsTransformersDoes() {
        Routing r = new Routing(8, 2, Gating.SOFTMAX, true, 0.01);
        MoeFeedForward a = moe(4, 3, r, 21);
        MoeFeedForward b = moe(4, 3, r, 22);
        double[] xa = Ref.normal(23, 9 * 4, 1);
        double[] xb = Ref.normal(24, 5 * 4, 1);
        a.forward(Tensor.of(xa, 9, 4));
        b.forward(Tensor.of(xb, 5, 4));
        assertThat(MoeFeedForward.loadBalancingLoss(List.of(a.routerLogits()), 2, 0.01)
                        .item())
                .isCloseTo(a.auxLoss().item(), org.assertj.core.data.Offset.offset(1e-15));
        // by hand over the 14 concatenated tokens: f from the top-2 choices, P the mean full softmax
        double[][] logits = new double[14][];
        double[] la = a.routerLogits().toDoubleArray();
        double[] lb = b.routerLogits().toDoubleArray();
        for (int t = 0; t < 14; t++) {
            logits[t] = Arrays.copyOfRange(t < 9 ? la : lb, (t < 9 ? t : t - 9) * 8, (t < 9 ? t : t - 9) * 8 + 8);
        }
        double[] f = new double[8];
        double[] p = new double[8];
        for (double[] l : logits) {
            double[] sm = softmax(l);
            Integer[] order = new Integer[8];
            Arrays.setAll(order, i -> i);
            Arrays.sort(order, (u, v) -> Double.compare(l[v], l[u]));
            f[order[0]] += 1.0 / 14;
            f[order[1]] += 1.0 / 14;
            for (int i = 0; i < 8; i++) {
                p[i] += sm[i] / 14;
            }
        }
        double expect = 0;
        for (int i = 0; i < 8; i++) {
            expect += f[i] * p[i];
        }
        double got = MoeFeedForward.loadBalancingLoss(List.of(a.routerLogits(), b.routerLogits()), 2, 0.01)
                .item();
        assertThat(got).isCloseTo(0.01 * 8 * expect, org.assertj.core.data.Offset.offset(1e-15));
    }

    @Test
    void noTokenIsDroppedWhenAllPickTheSameExpert() {
        for (int k : new int[] {1, 2}) {
            MoeFeedForward m = moe(4, 3, new Routing(6, k, Gating.SOFTMAX, true, 0.01), 11);
            double[] g = new double[6 * 4];
            g[3 * 4] = 5; // expert 3 wins whenever x₀ > 0
            g[1 * 4 + 1] = 0.5;
            m.gate().weight().value().copyFrom(Tensor.of(g, 6, 4));
            double[] x = Ref.normal(12, 37 * 4, 1);
            for (int t = 0; t < 37; t++) {
                x[t * 4] = 1 + Math.abs(x[t * 4]);
            }
            Tensor out = m.forward(Tensor.of(x, 37, 4));
            assertThat(m.tokensPerExpert()[3]).isEqualTo(37);
            assertThat(Arrays.stream(m.tokensPerExpert()).sum()).isEqualTo(37 * k);
            assertThat(GradCheck.relErr(out.toDoubleArray(), naive(m, x))).isLessThan(1e-12);
        }
    }

    @Test
    void f32RunsAndMatchesTheF64Oracle() {
        MoeFeedForward m = moe(8, 6, Routing.minimax(), 13);
        double[] x = Ref.normal(14, 19 * 8, 1);
        double[] ref = naive(m, x);
        m.to(DType.F32);
        Tensor out = m.forward(Tensor.of(DType.F32, x, 19, 8));
        assertThat(out.dtype()).isEqualTo(DType.F32);
        assertThat(GradCheck.relErr(out.toFloatArray(), ref)).isLessThan(1e-5);
    }

    @Test
    void badShapesAndSettingsAreRejected() {
        MoeFeedForward m = moe(4, 3, new Routing(4, 2, Gating.SOFTMAX, true, 0.01), 1);
        assertThatThrownBy(() -> m.forward(Tensor.zeros(DType.F64, 2, 5)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("MoeFeedForward")
                .hasMessageContaining("[..., 4]");
        assertThatThrownBy(() -> m.forward(Tensor.ofLongs(new long[] {1, 2, 3, 4}, 1, 4)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("floating");
        assertThatThrownBy(() -> new Routing(4, 5, Gating.SOFTMAX, true, 0.01))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("topK");
        assertThatThrownBy(() -> new Routing(0, 0, null, true, -1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("experts")
                .hasMessageContaining("topK")
                .hasMessageContaining("gating")
                .hasMessageContaining("auxLossCoef");
        assertThatThrownBy(() -> moe(0, 3, Routing.minimax(), 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("dim");
    }

    @Test
    void parameterNamesAreTransformersBlockSparseMoe() {
        MoeFeedForward m = moe(4, 5, new Routing(3, 2, Gating.SOFTMAX, true, 0.01), 2);
        Map<String, int[]> ref = new LinkedHashMap<>();
        ref.put("gate.weight", new int[] {3, 4});
        for (int i = 0; i < 3; i++) {
            ref.put("experts." + i + ".w1.weight", new int[] {5, 4});
            ref.put("experts." + i + ".w2.weight", new int[] {4, 5});
            ref.put("experts." + i + ".w3.weight", new int[] {5, 4});
        }
        Map<String, Parameter> own = m.namedParameters();
        assertThat(own.keySet()).containsExactlyElementsOf(ref.keySet());
        ref.forEach((n, s) -> assertThat(own.get(n).shape()).as(n).containsExactly(s));
        assertThat(m.parameterCount()).isEqualTo(MoeFeedForward.parameterCount(4, 5, 3));

        Map<String, Tensor> state = new LinkedHashMap<>();
        long seed = 100;
        for (var e : ref.entrySet()) {
            state.put(e.getKey(), Tensor.of(Ref.normal(seed++, (int) Ref.numel(e.getValue()), 1), e.getValue()));
        }
        m.loadStateDict(state, true);
        assertThat(m.stateDict().get("experts.2.w2.weight").toDoubleArray())
                .containsExactly(state.get("experts.2.w2.weight").toDoubleArray());

        Map<String, Tensor> wrong = new LinkedHashMap<>(state);
        wrong.put("experts.1.w3.weight", Tensor.zeros(DType.F64, 4, 5));
        assertThatThrownBy(() -> m.loadStateDict(wrong, true))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("experts.1.w3.weight");
        Map<String, Tensor> missing = new LinkedHashMap<>(state);
        missing.remove("gate.weight");
        assertThatThrownBy(() -> m.loadStateDict(missing, true))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("gate.weight");
    }
}
