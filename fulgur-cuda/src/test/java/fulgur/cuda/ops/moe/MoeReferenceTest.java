package fulgur.cuda.ops.moe;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.layers.MoeFeedForward;
import fulgur.nn.Linear;
import fulgur.ops.Elementwise;
import fulgur.ops.Reductions;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import java.util.ArrayDeque;
import java.util.Deque;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The per-token f64 oracle of the CUDA MoE kernels against fulgur's MoeFeedForward and its autograd (f64). */
class MoeReferenceTest {

    static double maxAbs(double[] a, double[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }

    @ParameterizedTest(name = "N={0} D={1} F={2} E={3} k={4} sigmoid={5} normalize={6}")
    @CsvSource({
        "13, 6, 5, 4, 2, false, true",
        "9, 4, 3, 8, 1, false, false",
        "11, 5, 4, 6, 2, true, false",
        "7, 4, 6, 5, 3, true, true",
    })
    void matchesMoeFeedForwardAndItsGradients(
            int n, int dim, int hidden, int e, int k, boolean sigmoid, boolean normalize) {
        Rng r = new Rng(n * 100L + e * 10L + k);
        Tensor x = r.normal(DType.F64, 0, 1, n, dim).requiresGrad(true);
        Tensor wg = r.normal(DType.F64, 0, 1, e, dim);
        Tensor w1 = r.normal(DType.F64, 0, 0.5, e, hidden, dim), w3 = r.normal(DType.F64, 0, 0.5, e, hidden, dim);
        Tensor w2 = r.normal(DType.F64, 0, 0.5, e, dim, hidden);
        Tensor dOut = r.normal(DType.F64, 0, 1, n, dim);
        double dAux = 0.7, coef = 0.05;

        Deque<Tensor> weights = new ArrayDeque<>();
        weights.add(wg);
        for (int i = 0; i < e; i++) {
            weights.add(w1.select(0, i).contiguous());
            weights.add(w2.select(0, i).contiguous());
            weights.add(w3.select(0, i).contiguous());
        }
        MoeFeedForward.Routing routing = new MoeFeedForward.Routing(
                e, k, sigmoid ? MoeFeedForward.Gating.SIGMOID : MoeFeedForward.Gating.SOFTMAX, normalize, coef);
        MoeFeedForward moe = new MoeFeedForward(
                dim, hidden, routing, (in, out) -> new Linear(weights.poll().detach(), null));
        Tensor out = moe.forward(x);
        Tensor loss =
                Elementwise.add(Reductions.sum(Elementwise.mul(out, dOut)), Elementwise.mulScalar(moe.auxLoss(), dAux));
        loss.backward();

        double[] xa = x.toDoubleArray(), wga = wg.toDoubleArray();
        double[] logits = new double[n * e];
        for (int t = 0; t < n; t++) {
            for (int i = 0; i < e; i++) {
                double s = 0;
                for (int d = 0; d < dim; d++) s += xa[t * dim + d] * wga[i * dim + d];
                logits[t * e + i] = s;
            }
        }
        MoeReference.Result ref = MoeReference.run(
                new MoeReference.Config(e, k, sigmoid, normalize, coef),
                n,
                dim,
                hidden,
                logits,
                xa,
                w1.toDoubleArray(),
                w3.toDoubleArray(),
                w2.toDoubleArray(),
                dOut.toDoubleArray(),
                dAux);

        assertThat(maxAbs(ref.out(), out.toDoubleArray())).as("out").isLessThan(1e-10);
        assertThat(ref.routing().aux())
                .as("aux")
                .isCloseTo(moe.auxLoss().item(), org.assertj.core.data.Offset.offset(1e-12));
        assertThat(ref.routing().counts()).as("counts").containsExactly(moe.tokensPerExpert());
        double[] dw1 = new double[e * hidden * dim], dw3 = new double[dw1.length], dw2 = new double[e * dim * hidden];
        for (int i = 0; i < e; i++) {
            var ex = moe.experts().get(i);
            System.arraycopy(grad(ex.w1().weight().grad(), hidden * dim), 0, dw1, i * hidden * dim, hidden * dim);
            System.arraycopy(grad(ex.w3().weight().grad(), hidden * dim), 0, dw3, i * hidden * dim, hidden * dim);
            System.arraycopy(grad(ex.w2().weight().grad(), hidden * dim), 0, dw2, i * hidden * dim, hidden * dim);
        }
        assertThat(maxAbs(ref.dw1(), dw1)).as("dw1").isLessThan(1e-10);
        assertThat(maxAbs(ref.dw3(), dw3)).as("dw3").isLessThan(1e-10);
        assertThat(maxAbs(ref.dw2(), dw2)).as("dw2").isLessThan(1e-10);
        // the gate's gradient is dLogits^T x; x's is the expert path plus dLogits Wg
        double[] dwg = new double[e * dim], dxAll = ref.dx().clone();
        for (int t = 0; t < n; t++) {
            for (int i = 0; i < e; i++) {
                for (int d = 0; d < dim; d++) {
                    dwg[i * dim + d] += ref.dLogits()[t * e + i] * xa[t * dim + d];
                    dxAll[t * dim + d] += ref.dLogits()[t * e + i] * wga[i * dim + d];
                }
            }
        }
        assertThat(maxAbs(dwg, moe.gate().weight().grad().toDoubleArray()))
                .as("gate weight grad")
                .isLessThan(1e-10);
        assertThat(maxAbs(dxAll, x.grad().toDoubleArray())).as("dx").isLessThan(1e-10);
    }

    /**
     * The cancellation scale of d logits bounds it elementwise, equals it in magnitude where no term cancels (top-1
     * without renormalisation, softmax), and is many orders above it for top-1 renormalised gates (gate identically 1).
     */
    @ParameterizedTest(name = "k={0} normalize={1}")
    @CsvSource({"1, false", "1, true", "2, true"})
    void dLogitsScaleBoundsTheCancellingTerms(int k, boolean normalize) {
        int n = 40, dim = 4, hidden = 3, e = 8;
        Rng r = new Rng(5L + k);
        double[] logits = r.normal(DType.F64, 0, 2, n, e).toDoubleArray();
        double[] x = r.normal(DType.F64, 0, 1, n, dim).toDoubleArray(),
                dOut = r.normal(DType.F64, 0, 1, n, dim).toDoubleArray();
        double[] w1 = r.normal(DType.F64, 0, 0.5, e, hidden, dim).toDoubleArray(),
                w3 = r.normal(DType.F64, 0, 0.5, e, hidden, dim).toDoubleArray();
        double[] w2 = r.normal(DType.F64, 0, 0.5, e, dim, hidden).toDoubleArray();
        MoeReference.Result ref = MoeReference.run(
                new MoeReference.Config(e, k, false, normalize, 0.01),
                n,
                dim,
                hidden,
                logits,
                x,
                w1,
                w3,
                w2,
                dOut,
                0.8);
        double[] dl = ref.dLogits(), sc = ref.dLogitsScale();
        double dlNorm = 0, scNorm = 0;
        for (int i = 0; i < dl.length; i++) {
            assertThat(sc[i]).as("scale >= |dLogits| at %d", i).isGreaterThanOrEqualTo(Math.abs(dl[i]) * (1 - 1e-12));
            dlNorm += dl[i] * dl[i];
            scNorm += sc[i] * sc[i];
        }
        if (k == 1 && normalize) {
            assertThat(Math.sqrt(dlNorm))
                    .as("only the load-balancing term remains")
                    .isLessThan(1e-3 * Math.sqrt(scNorm));
        } else {
            assertThat(Math.sqrt(dlNorm)).as("partial or no cancellation").isGreaterThan(0.05 * Math.sqrt(scNorm));
        }
    }

    /** A gradient, or zeros for an expert that received no token (no gradient was recorded). */
    static double[] grad(Tensor g, int n) {
        return g == null ? new double[n] : g.toDoubleArray();
    }
}
