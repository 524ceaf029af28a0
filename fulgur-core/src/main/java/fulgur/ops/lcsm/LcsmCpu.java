package fulgur.ops.lcsm;

import fulgur.tensor.Tensor;
import java.util.stream.IntStream;

/**
 * The CPU's {@link LcsmKernels}: a direct loop over time per sequence in f64 (inputs of any float dtype, result in i's),
 * sequences in parallel. The backward recomputes the memories of one sequence, then runs the reverse recurrence
 * g_{t−1} = o_t ⊙ (g_t) with g_t += s_t ⊗ dy_t.
 */
public final class LcsmCpu implements LcsmKernels {
    public static final LcsmCpu INSTANCE = new LcsmCpu();

    private LcsmCpu() {}

    private record Dims(int b, int t, int k, int d) {
        int kd() {
            return k * d;
        }
    }

    private static Dims dims(Tensor i, Tensor e) {
        return new Dims(i.size(0), i.size(1), e.size(2), i.size(2));
    }

    @Override
    public Tensor forward(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0) {
        Dims n = dims(i, e);
        double[] iv = i.toDoubleArray();
        double[] ev = e.toDoubleArray();
        double[] ov = logO.toDoubleArray();
        double[] sv = s.toDoubleArray();
        double[] mv = m0 == null ? null : m0.toDoubleArray();
        int yLen = n.b * n.t * n.d;
        double[] out = new double[yLen + n.b * n.kd()];
        IntStream.range(0, n.b).parallel().forEach(b -> {
            double[] m = new double[n.kd()];
            if (mv != null) {
                System.arraycopy(mv, b * n.kd(), m, 0, n.kd());
            }
            for (int t = 0; t < n.t; t++) {
                int row = (b * n.t + t);
                step(n, row, iv, ev, ov, m);
                for (int r = 0; r < n.k; r++) {
                    for (int c = 0; c < n.d; c++) {
                        out[row * n.d + c] += sv[(row * n.k + r) * n.d + c] * m[r * n.d + c];
                    }
                }
            }
            System.arraycopy(m, 0, out, yLen + b * n.kd(), n.kd());
        });
        return Tensor.of(i.dtype(), out, out.length);
    }

    /** m ← exp(logO_row) ⊙ m + e_row ⊙ (1 i_rowᵀ). */
    private static void step(Dims n, int row, double[] iv, double[] ev, double[] ov, double[] m) {
        for (int r = 0; r < n.k; r++) {
            int base = (row * n.k + r) * n.d;
            for (int c = 0; c < n.d; c++) {
                m[r * n.d + c] = Math.exp(ov[base + c]) * m[r * n.d + c] + ev[base + c] * iv[row * n.d + c];
            }
        }
    }

    @Override
    public Tensor[] backward(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0, Tensor packedGrad) {
        Dims n = dims(i, e);
        double[] iv = i.toDoubleArray();
        double[] ev = e.toDoubleArray();
        double[] ov = logO.toDoubleArray();
        double[] sv = s.toDoubleArray();
        double[] mv = m0 == null ? null : m0.toDoubleArray();
        double[] g = packedGrad.toDoubleArray();
        int yLen = n.b * n.t * n.d;
        int full = n.b * n.t * n.kd();
        double[] di = new double[yLen];
        double[] de = new double[full];
        double[] dlo = new double[full];
        double[] ds = new double[full];
        double[] dm0 = new double[n.b * n.kd()];
        IntStream.range(0, n.b).parallel().forEach(b -> {
            int kd = n.kd();
            double[][] states = new double[n.t + 1][];
            states[0] = new double[kd];
            if (mv != null) {
                System.arraycopy(mv, b * kd, states[0], 0, kd);
            }
            for (int t = 0; t < n.t; t++) {
                states[t + 1] = states[t].clone();
                step(n, b * n.t + t, iv, ev, ov, states[t + 1]);
            }
            double[] acc = new double[kd];
            System.arraycopy(g, yLen + b * kd, acc, 0, kd);
            for (int t = n.t - 1; t >= 0; t--) {
                int row = b * n.t + t;
                double[] m = states[t + 1];
                double[] prev = states[t];
                for (int r = 0; r < n.k; r++) {
                    int base = (row * n.k + r) * n.d;
                    for (int c = 0; c < n.d; c++) {
                        int rc = r * n.d + c;
                        double dy = g[row * n.d + c];
                        acc[rc] += sv[base + c] * dy;
                        ds[base + c] = dy * m[rc];
                        de[base + c] = acc[rc] * iv[row * n.d + c];
                        di[row * n.d + c] += acc[rc] * ev[base + c];
                        double o = Math.exp(ov[base + c]);
                        dlo[base + c] = acc[rc] * o * prev[rc];
                        acc[rc] *= o;
                    }
                }
            }
            System.arraycopy(acc, 0, dm0, b * kd, kd);
        });
        int[] fs = {n.b, n.t, n.k, n.d};
        return new Tensor[] {
            Tensor.of(i.dtype(), di, n.b, n.t, n.d),
            Tensor.of(i.dtype(), de, fs),
            Tensor.of(i.dtype(), dlo, fs),
            Tensor.of(i.dtype(), ds, fs),
            m0 == null ? null : Tensor.of(i.dtype(), dm0, n.b, n.k, n.d)
        };
    }
}
