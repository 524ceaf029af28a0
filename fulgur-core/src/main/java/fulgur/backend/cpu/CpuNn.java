package fulgur.backend.cpu;

import fulgur.tensor.DType;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Row-wise neural-network kernels: softmax, cross-entropy, embedding, RMSNorm and LayerNorm. */
final class CpuNn {
    private CpuNn() {}

    private static final VectorSpecies<Float> F = CpuElementwise.F;
    private static final ByteOrder NO = ByteOrder.nativeOrder();

    /** A contiguous math-type view of x as rows × cols over its last axis. */
    private record Rows(Tensor t, MemorySegment seg, long base, DType mt, int rows, int cols) {
        static Rows of(String op, Tensor x) {
            CpuSupport.checkCpu(op, x);
            CpuSupport.checkFloating(op, x);
            if (x.ndim() == 0) {
                throw new IllegalArgumentException(op + ": expected at least one dimension, got " + x.describe());
            }
            DType mt = CpuSupport.mathType(x.dtype());
            Tensor t = CpuSupport.contiguousAs(x, mt);
            int cols = x.size(-1);
            int rows = Shape.toInt(op, cols == 0 ? 0 : x.numel() / cols);
            return new Rows(t, t.hostSegment(op), t.offset(), mt, rows, cols);
        }

        double get(long r, long c) {
            return CpuElementwise.get(seg, mt, base + r * cols + c);
        }
    }

    private static int grain(int cols) {
        return Math.max(1, 8192 / Math.max(1, cols));
    }

    // ------------------------------------------------------------------ softmax

    static Tensor softmax(Tensor x, boolean log) {
        String op = log ? "logSoftmax" : "softmax";
        Rows in = Rows.of(op, x);
        Tensor out = CpuSupport.alloc(in.mt, x.shape());
        MemorySegment d = out.hostSegment(op);
        int cols = in.cols;
        Parallel.forRange(in.rows, grain(cols), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                long o = in.base + (long) r * cols;
                long od = (long) r * cols;
                if (in.mt == DType.F32) {
                    softmaxRowF32(in.seg, o, d, od, cols, log);
                } else {
                    double m = Double.NEGATIVE_INFINITY;
                    for (int c = 0; c < cols; c++) {
                        m = Math.max(m, in.seg.getAtIndex(ValueLayout.JAVA_DOUBLE, o + c));
                    }
                    double sum = 0;
                    for (int c = 0; c < cols; c++) {
                        sum += Math.exp(in.seg.getAtIndex(ValueLayout.JAVA_DOUBLE, o + c) - m);
                    }
                    double lse = m + Math.log(sum);
                    for (int c = 0; c < cols; c++) {
                        double v = in.seg.getAtIndex(ValueLayout.JAVA_DOUBLE, o + c) - lse;
                        d.setAtIndex(ValueLayout.JAVA_DOUBLE, od + c, log ? v : Math.exp(v));
                    }
                }
            }
        });
        return CpuSupport.convert(out, x.dtype());
    }

    /** The largest of the f32 values [o, o + cols) of {@code s}; 0 when all are −inf (or there are none). */
    static float rowMaxF32(MemorySegment s, long o, int cols) {
        int bound = F.loopBound(cols);
        FloatVector mv = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int c = 0;
        for (; c < bound; c += F.length()) {
            mv = mv.max(FloatVector.fromMemorySegment(F, s, (o + c) * 4, NO));
        }
        float m = mv.reduceLanes(VectorOperators.MAX);
        for (; c < cols; c++) {
            m = Math.max(m, s.getAtIndex(ValueLayout.JAVA_FLOAT, o + c));
        }
        return m == Float.NEGATIVE_INFINITY ? 0 : m;
    }

    /**
     * Σ exp(x − m) over the f32 values [o, o + cols) of {@code s} ({@link Lanes#exp}, lanes summed in a fixed order),
     * and with {@code sumX} also Σ x into {@code sumX[0]}.
     */
    private static double rowSumExpF32(MemorySegment s, long o, int cols, float m, double[] sumX) {
        int bound = F.loopBound(cols);
        FloatVector acc = FloatVector.zero(F), accX = acc;
        int c = 0;
        for (; c < bound; c += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, s, (o + c) * 4, NO);
            acc = acc.add(Lanes.exp(x.sub(m)));
            if (sumX != null) {
                accX = accX.add(x);
            }
        }
        double sum = Lanes.sum(acc);
        double sx = sumX != null ? Lanes.sum(accX) : 0;
        for (; c < cols; c++) {
            float x = s.getAtIndex(ValueLayout.JAVA_FLOAT, o + c);
            sum += (float) Math.exp(x - m);
            sx += x;
        }
        if (sumX != null) {
            sumX[0] = sx;
        }
        return sum;
    }

    static void softmaxRowF32(MemorySegment s, long o, MemorySegment d, long od, int cols, boolean log) {
        int bound = F.loopBound(cols);
        float m = rowMaxF32(s, o, cols);
        FloatVector acc = FloatVector.zero(F);
        int c = 0;
        for (; c < bound; c += F.length()) {
            FloatVector e = Lanes.exp(
                    FloatVector.fromMemorySegment(F, s, (o + c) * 4, NO).sub(m));
            if (!log) {
                e.intoMemorySegment(d, (od + c) * 4, NO);
            }
            acc = acc.add(e);
        }
        double sum = Lanes.sum(acc);
        for (; c < cols; c++) {
            float e = (float) Math.exp(s.getAtIndex(ValueLayout.JAVA_FLOAT, o + c) - m);
            if (!log) {
                d.setAtIndex(ValueLayout.JAVA_FLOAT, od + c, e);
            }
            sum += e;
        }
        if (log) {
            float lse = (float) (m + Math.log(sum));
            c = 0;
            for (; c < bound; c += F.length()) {
                FloatVector.fromMemorySegment(F, s, (o + c) * 4, NO).sub(lse).intoMemorySegment(d, (od + c) * 4, NO);
            }
            for (; c < cols; c++) {
                d.setAtIndex(ValueLayout.JAVA_FLOAT, od + c, s.getAtIndex(ValueLayout.JAVA_FLOAT, o + c) - lse);
            }
        } else {
            float inv = (float) (1 / sum);
            c = 0;
            for (; c < bound; c += F.length()) {
                FloatVector.fromMemorySegment(F, d, (od + c) * 4, NO).mul(inv).intoMemorySegment(d, (od + c) * 4, NO);
            }
            for (; c < cols; c++) {
                d.setAtIndex(ValueLayout.JAVA_FLOAT, od + c, d.getAtIndex(ValueLayout.JAVA_FLOAT, od + c) * inv);
            }
        }
    }

    static Tensor softmaxBackward(Tensor y, Tensor dy, boolean log) {
        String op = log ? "logSoftmaxBackward" : "softmaxBackward";
        Rows ys = Rows.of(op, y);
        Rows gs = Rows.of(op, dy);
        Tensor out = CpuSupport.alloc(ys.mt, y.shape());
        MemorySegment d = out.hostSegment(op);
        int cols = ys.cols;
        Parallel.forRange(ys.rows, grain(cols), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                double dot = 0;
                for (int c = 0; c < cols; c++) {
                    dot += log ? gs.get(r, c) : gs.get(r, c) * ys.get(r, c);
                }
                for (int c = 0; c < cols; c++) {
                    double v = log ? gs.get(r, c) - Math.exp(ys.get(r, c)) * dot : ys.get(r, c) * (gs.get(r, c) - dot);
                    CpuElementwise.set(d, ys.mt, (long) r * cols + c, v);
                }
            }
        });
        return CpuSupport.convert(out, y.dtype());
    }

    // ------------------------------------------------------------------ cross-entropy

    private static long[] checkTargets(String op, Rows in, Tensor targets, int ignoreIndex) {
        CpuSupport.checkInteger(op, targets);
        if (targets.numel() != in.rows) {
            throw new IllegalArgumentException(
                    op + ": " + targets.numel() + " targets for " + in.rows + " rows of logits " + in.t.describe());
        }
        long[] t = CpuSupport.indices(targets);
        for (int i = 0; i < t.length; i++) {
            if (t[i] != ignoreIndex && (t[i] < 0 || t[i] >= in.cols)) {
                throw new IndexOutOfBoundsException(op + ": target " + t[i] + " at row " + i + " is outside [0, "
                        + in.cols + ") and is not the ignore index " + ignoreIndex);
            }
        }
        return t;
    }

    static Tensor crossEntropy(Tensor logits, Tensor targets, int ignoreIndex, double smoothing) {
        String op = "crossEntropy";
        Rows in = Rows.of(op, logits);
        long[] t = checkTargets(op, in, targets, ignoreIndex);
        int cols = in.cols;
        double[] rowLoss = new double[in.rows];
        Parallel.forRange(in.rows, grain(cols), (r0, r1) -> {
            double[] rowSumX = smoothing == 0 ? null : new double[1];
            for (int r = r0; r < r1; r++) {
                if (t[r] == ignoreIndex) {
                    continue;
                }
                if (in.mt == DType.F32) {
                    // f32 lanes: one pass for the max, one for Σ exp(x − max) (and Σ x when smoothing)
                    long o = in.base + (long) r * cols;
                    float m = rowMaxF32(in.seg, o, cols);
                    double lse = m + Math.log(rowSumExpF32(in.seg, o, cols, m, rowSumX));
                    rowLoss[r] =
                            lossOfRow(lse, in.get(r, (int) t[r]), smoothing == 0 ? 0 : rowSumX[0], cols, smoothing);
                    continue;
                }
                double m = Double.NEGATIVE_INFINITY;
                double sumX = 0;
                for (int c = 0; c < cols; c++) {
                    double v = in.get(r, c);
                    m = Math.max(m, v);
                    sumX += v;
                }
                double sum = 0;
                for (int c = 0; c < cols; c++) {
                    sum += Math.exp(in.get(r, c) - m);
                }
                rowLoss[r] = lossOfRow(m + Math.log(sum), in.get(r, (int) t[r]), sumX, cols, smoothing);
            }
        });
        double total = 0;
        long count = 0;
        for (int r = 0; r < in.rows; r++) {
            if (t[r] != ignoreIndex) {
                total += rowLoss[r];
                count++;
            }
        }
        Tensor out = CpuSupport.alloc(in.mt, new int[0]);
        CpuElementwise.set(out.hostSegment(op), in.mt, 0, count == 0 ? 0 : total / count);
        return out;
    }

    /**
     * One row's loss from its log-sum-exp, its target's logit and the sum of its logits: (1 − ε)·nll + ε·(lse − mean).
     * Without smoothing the mean term is left out, not multiplied by 0: a −inf logit (a masked word) makes it infinite,
     * and 0·∞ would turn the row's loss into NaN.
     */
    private static double lossOfRow(double lse, double target, double sumX, int cols, double smoothing) {
        return (1 - smoothing) * (lse - target) + (smoothing == 0 ? 0 : smoothing * (lse - sumX / cols));
    }

    static Tensor crossEntropyBackward(
            Tensor logits, Tensor targets, int ignoreIndex, double smoothing, double gradOut) {
        String op = "crossEntropyBackward";
        Rows in = Rows.of(op, logits);
        long[] t = checkTargets(op, in, targets, ignoreIndex);
        long count = 0;
        for (long v : t) {
            if (v != ignoreIndex) {
                count++;
            }
        }
        int cols = in.cols;
        double scale = count == 0 ? 0 : gradOut / count;
        Tensor out = CpuSupport.alloc(in.mt, logits.shape());
        MemorySegment d = out.hostSegment(op);
        Parallel.forRange(in.rows, grain(cols), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                long o = (long) r * cols;
                if (t[r] == ignoreIndex) {
                    for (int c = 0; c < cols; c++) {
                        CpuElementwise.set(d, in.mt, o + c, 0);
                    }
                    continue;
                }
                if (in.mt == DType.F32) {
                    crossEntropyBackwardRowF32(in.seg, in.base + o, d, o, cols, (int) t[r], smoothing, scale);
                    continue;
                }
                double m = Double.NEGATIVE_INFINITY;
                for (int c = 0; c < cols; c++) {
                    m = Math.max(m, in.get(r, c));
                }
                double sum = 0;
                for (int c = 0; c < cols; c++) {
                    sum += Math.exp(in.get(r, c) - m);
                }
                double inv = 1 / sum;
                for (int c = 0; c < cols; c++) {
                    double p = Math.exp(in.get(r, c) - m) * inv;
                    double target = (c == t[r] ? 1 - smoothing : 0) + smoothing / cols;
                    CpuElementwise.set(d, in.mt, o + c, (p - target) * scale);
                }
            }
        });
        return CpuSupport.convert(out, logits.dtype());
    }

    /**
     * One row of the cross-entropy's gradient in f32 lanes: {@code (softmax(x) − q)·scale}, q = (1 − smoothing) at the
     * target plus smoothing / cols everywhere, logits at {@code o} of {@code s}, gradient at {@code od} of {@code d}.
     */
    private static void crossEntropyBackwardRowF32(
            MemorySegment s, long o, MemorySegment d, long od, int cols, int target, double smoothing, double scale) {
        float m = rowMaxF32(s, o, cols);
        float inv = (float) (1 / rowSumExpF32(s, o, cols, m, null));
        float sc = (float) scale;
        float base = (float) (smoothing / cols);
        int bound = F.loopBound(cols);
        int c = 0;
        for (; c < bound; c += F.length()) {
            Lanes.exp(FloatVector.fromMemorySegment(F, s, (o + c) * 4, NO).sub(m))
                    .mul(inv)
                    .sub(base)
                    .mul(sc)
                    .intoMemorySegment(d, (od + c) * 4, NO);
        }
        for (; c < cols; c++) {
            float p = (float) Math.exp(s.getAtIndex(ValueLayout.JAVA_FLOAT, o + c) - m) * inv;
            d.setAtIndex(ValueLayout.JAVA_FLOAT, od + c, (p - base) * sc);
        }
        long at = od + target;
        d.setAtIndex(
                ValueLayout.JAVA_FLOAT,
                at,
                d.getAtIndex(ValueLayout.JAVA_FLOAT, at) - (float) ((1 - smoothing) * scale));
    }

    // ------------------------------------------------------------------ embedding

    static Tensor embedding(Tensor weight, Tensor ids) {
        String op = "embedding";
        CpuSupport.checkCpu(op, weight);
        CpuSupport.checkInteger(op, ids);
        if (weight.ndim() != 2) {
            throw new IllegalArgumentException(op + ": weight must be [vocab, dim], got " + weight.describe());
        }
        int vocab = weight.size(0);
        int dim = weight.size(1);
        long[] idx = CpuSupport.indices(ids);
        for (int i = 0; i < idx.length; i++) {
            if (idx[i] < 0 || idx[i] >= vocab) {
                throw new IndexOutOfBoundsException(
                        op + ": id " + idx[i] + " at position " + i + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
        Tensor w = weight.isContiguous() ? weight : CpuSupport.contiguousAs(weight, weight.dtype());
        Tensor out = CpuSupport.alloc(weight.dtype(), Shape.concat(ids.shape(), dim));
        MemorySegment s = w.hostSegment(op);
        MemorySegment d = out.hostSegment(op);
        long es = weight.dtype().byteSize();
        Parallel.forRange(idx.length, Math.max(1, 4096 / Math.max(1, dim)), (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                MemorySegment.copy(s, (w.offset() + idx[i] * dim) * es, d, (long) i * dim * es, dim * es);
            }
        });
        return out;
    }

    static Tensor embeddingBackward(Tensor dOut, Tensor ids, int vocab) {
        String op = "embeddingBackward";
        CpuSupport.checkInteger(op, ids);
        int dim = dOut.size(-1);
        if (dOut.numel() != ids.numel() * dim) {
            throw new IllegalArgumentException(
                    op + ": gradient " + dOut.describe() + " does not match ids " + ids.describe());
        }
        DType mt = CpuSupport.mathType(dOut.dtype());
        Tensor g = CpuSupport.contiguousAs(dOut, mt);
        Tensor out = CpuSupport.alloc(mt, new int[] {vocab, dim});
        CpuCopy.fill(out, 0);
        long[] idx = CpuSupport.indices(ids);
        MemorySegment s = g.hostSegment(op);
        MemorySegment d = out.hostSegment(op);
        // Parallel over embedding columns so that repeated ids never race.
        int colChunks = Math.max(1, Math.min(Parallel.threads(), dim / 8));
        Parallel.forRange(colChunks, 1, (c0, c1) -> {
            int j0 = (int) ((long) dim * c0 / colChunks);
            int j1 = (int) ((long) dim * c1 / colChunks);
            for (int i = 0; i < idx.length; i++) {
                long src = g.offset() + (long) i * dim;
                long dst = idx[i] * dim;
                for (int j = j0; j < j1; j++) {
                    CpuElementwise.set(
                            d, mt, dst + j, CpuElementwise.get(d, mt, dst + j) + CpuElementwise.get(s, mt, src + j));
                }
            }
        });
        return out;
    }

    // ------------------------------------------------------------------ norms

    private static double[] gainValues(String op, Tensor gain, int cols) {
        if (gain == null) {
            return null;
        }
        if (gain.ndim() != 1 || gain.size(0) != cols) {
            throw new IllegalArgumentException(
                    op + ": expected a parameter of shape [" + cols + "], got " + gain.describe());
        }
        return gain.toDoubleArray();
    }

    static Tensor[] rmsNorm(Tensor x, Tensor gain, double eps) {
        String op = "rmsNorm";
        Rows in = Rows.of(op, x);
        int cols = in.cols;
        double[] g = gainValues(op, gain, cols);
        Tensor y = CpuSupport.alloc(in.mt, x.shape());
        int[] rs = x.shape();
        rs[rs.length - 1] = 1;
        Tensor rstd = CpuSupport.alloc(in.mt, rs);
        MemorySegment d = y.hostSegment(op);
        MemorySegment rd = rstd.hostSegment(op);
        Parallel.forRange(in.rows, grain(cols), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                double ss = 0;
                if (in.mt == DType.F32) {
                    ss = dotF32(in.seg, in.base + (long) r * cols, in.seg, in.base + (long) r * cols, cols);
                } else {
                    for (int c = 0; c < cols; c++) {
                        double v = in.get(r, c);
                        ss += v * v;
                    }
                }
                double inv = 1 / Math.sqrt(ss / cols + eps);
                CpuElementwise.set(rd, in.mt, r, inv);
                for (int c = 0; c < cols; c++) {
                    double v = in.get(r, c) * inv;
                    CpuElementwise.set(d, in.mt, (long) r * cols + c, g == null ? v : v * g[c]);
                }
            }
        });
        return new Tensor[] {CpuSupport.convert(y, x.dtype()), rstd};
    }

    /** dx (plus {@code addend} when not null, before rounding to x's dtype) and the gain's gradient. */
    static Tensor[] rmsNormBackward(Tensor x, Tensor gain, Tensor rstd, Tensor dy, Tensor addend) {
        String op = "rmsNormBackward";
        Rows in = Rows.of(op, x);
        Rows gr = Rows.of(op, dy);
        Rows ad = addend(op, x, addend);
        int cols = in.cols;
        double[] g = gainValues(op, gain, cols);
        double[] rs = rstd.toDoubleArray();
        Tensor dx = CpuSupport.alloc(in.mt, x.shape());
        MemorySegment d = dx.hostSegment(op);
        int threads = Parallel.threads();
        double[][] dgPart = g == null ? null : new double[threads][cols];
        float[] gf = g == null || in.mt != DType.F32 ? null : new float[cols];
        for (int c = 0; gf != null && c < cols; c++) {
            gf[c] = (float) g[c];
        }
        int rows = in.rows;
        Parallel.forRange(threads, 1, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                int r0 = (int) ((long) rows * t / threads);
                int r1 = (int) ((long) rows * (t + 1) / threads);
                if (in.mt == DType.F32) {
                    rmsNormBackwardRowsF32(in, gr, ad, gf, rs, r0, r1, d, dgPart == null ? null : dgPart[t]);
                    continue;
                }
                for (int r = r0; r < r1; r++) {
                    double inv = rs[r];
                    // y = x·inv·g;  dx = inv·(dy⊙g − x̂·mean(dy⊙g⊙x̂)) with x̂ = x·inv
                    double dot = 0;
                    for (int c = 0; c < cols; c++) {
                        double gy = gr.get(r, c) * (g == null ? 1 : g[c]);
                        dot += gy * in.get(r, c) * inv;
                        if (dgPart != null) {
                            dgPart[t][c] += gr.get(r, c) * in.get(r, c) * inv;
                        }
                    }
                    dot /= cols;
                    for (int c = 0; c < cols; c++) {
                        double gy = gr.get(r, c) * (g == null ? 1 : g[c]);
                        CpuElementwise.set(
                                d,
                                in.mt,
                                (long) r * cols + c,
                                inv * (gy - in.get(r, c) * inv * dot) + (ad == null ? 0 : ad.get(r, c)));
                    }
                }
            }
        });
        Tensor dgain = null;
        if (g != null) {
            double[] sum = new double[cols];
            for (double[] part : dgPart) {
                for (int c = 0; c < cols; c++) {
                    sum[c] += part[c];
                }
            }
            dgain = CpuSupport.convert(Tensor.of(CpuSupport.mathType(gain.dtype()), sum, cols), gain.dtype());
        }
        return new Tensor[] {CpuSupport.convert(dx, x.dtype()), dgain};
    }

    /**
     * RMSNorm's backward for rows {@code [r0, r1)} of f32 in vector lanes: {@code dx = inv·(dy⊙g − x̂·mean(dy⊙g⊙x̂))
     * (+ addend)}, and the gain's gradient Σ dy⊙x̂ over these rows added into {@code dg} (the thread's part).
     */
    private static void rmsNormBackwardRowsF32(
            Rows in, Rows gr, Rows ad, float[] g, double[] rs, int r0, int r1, MemorySegment d, double[] dg) {
        int cols = in.cols;
        int bound = F.loopBound(cols);
        float[] dgAcc = dg == null ? null : new float[cols];
        for (int r = r0; r < r1; r++) {
            float inv = (float) rs[r];
            long xo = (in.base + (long) r * cols) * 4, yo = (gr.base + (long) r * cols) * 4;
            FloatVector acc = FloatVector.zero(F);
            int c = 0;
            for (; c < bound; c += F.length()) {
                FloatVector x = FloatVector.fromMemorySegment(F, in.seg, xo + c * 4L, NO);
                FloatVector dy = FloatVector.fromMemorySegment(F, gr.seg, yo + c * 4L, NO);
                FloatVector gy = g == null ? dy : dy.mul(FloatVector.fromArray(F, g, c));
                acc = gy.fma(x, acc);
                if (dgAcc != null) {
                    dy.mul(x)
                            .fma(FloatVector.broadcast(F, inv), FloatVector.fromArray(F, dgAcc, c))
                            .intoArray(dgAcc, c);
                }
            }
            float dot = Lanes.sum(acc);
            for (; c < cols; c++) {
                float x = in.seg.get(ValueLayout.JAVA_FLOAT, xo + c * 4L);
                float dy = gr.seg.get(ValueLayout.JAVA_FLOAT, yo + c * 4L);
                dot += dy * (g == null ? 1 : g[c]) * x;
                if (dgAcc != null) {
                    dgAcc[c] += dy * x * inv;
                }
            }
            // mean(dy⊙g⊙x̂)·inv = dot·inv²/cols: dx = inv·dy⊙g − x·k
            float k = dot * inv * inv * inv / cols;
            long dout = (long) r * cols * 4;
            long ao = ad == null ? 0 : (ad.base + (long) r * cols) * 4;
            c = 0;
            for (; c < bound; c += F.length()) {
                FloatVector x = FloatVector.fromMemorySegment(F, in.seg, xo + c * 4L, NO);
                FloatVector dy = FloatVector.fromMemorySegment(F, gr.seg, yo + c * 4L, NO);
                FloatVector gy = g == null ? dy : dy.mul(FloatVector.fromArray(F, g, c));
                FloatVector v = gy.mul(inv).sub(x.mul(k));
                if (ad != null) {
                    v = v.add(FloatVector.fromMemorySegment(F, ad.seg, ao + c * 4L, NO));
                }
                v.intoMemorySegment(d, dout + c * 4L, NO);
            }
            for (; c < cols; c++) {
                float x = in.seg.get(ValueLayout.JAVA_FLOAT, xo + c * 4L);
                float gy = gr.seg.get(ValueLayout.JAVA_FLOAT, yo + c * 4L) * (g == null ? 1 : g[c]);
                float v = gy * inv - x * k;
                if (ad != null) {
                    v += ad.seg.get(ValueLayout.JAVA_FLOAT, ao + c * 4L);
                }
                d.set(ValueLayout.JAVA_FLOAT, dout + c * 4L, v);
            }
        }
        for (int c = 0; dgAcc != null && c < cols; c++) {
            dg[c] += dgAcc[c];
        }
    }

    static Tensor[] layerNorm(Tensor x, Tensor weight, Tensor bias, double eps) {
        String op = "layerNorm";
        Rows in = Rows.of(op, x);
        int cols = in.cols;
        double[] w = gainValues(op, weight, cols);
        double[] b = gainValues(op, bias, cols);
        Tensor y = CpuSupport.alloc(in.mt, x.shape());
        int[] rs = x.shape();
        rs[rs.length - 1] = 1;
        Tensor mean = CpuSupport.alloc(in.mt, rs);
        Tensor rstd = CpuSupport.alloc(in.mt, rs);
        MemorySegment d = y.hostSegment(op);
        MemorySegment md = mean.hostSegment(op);
        MemorySegment rd = rstd.hostSegment(op);
        Parallel.forRange(in.rows, grain(cols), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                double mu = 0;
                for (int c = 0; c < cols; c++) {
                    mu += in.get(r, c);
                }
                mu /= cols;
                double var = 0;
                for (int c = 0; c < cols; c++) {
                    double dv = in.get(r, c) - mu;
                    var += dv * dv;
                }
                double inv = 1 / Math.sqrt(var / cols + eps);
                CpuElementwise.set(md, in.mt, r, mu);
                CpuElementwise.set(rd, in.mt, r, inv);
                for (int c = 0; c < cols; c++) {
                    double v = (in.get(r, c) - mu) * inv;
                    if (w != null) {
                        v *= w[c];
                    }
                    if (b != null) {
                        v += b[c];
                    }
                    CpuElementwise.set(d, in.mt, (long) r * cols + c, v);
                }
            }
        });
        return new Tensor[] {CpuSupport.convert(y, x.dtype()), mean, rstd};
    }

    /** dx (plus {@code addend} when not null, before rounding to x's dtype) and the parameters' gradients. */
    static Tensor[] layerNormBackward(
            Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, boolean hasBias, Tensor addend) {
        String op = "layerNormBackward";
        Rows in = Rows.of(op, x);
        Rows gr = Rows.of(op, dy);
        Rows ad = addend(op, x, addend);
        int cols = in.cols;
        double[] w = gainValues(op, weight, cols);
        double[] mu = mean.toDoubleArray();
        double[] rs = rstd.toDoubleArray();
        Tensor dx = CpuSupport.alloc(in.mt, x.shape());
        MemorySegment d = dx.hostSegment(op);
        double[] dw = new double[cols];
        double[] db = new double[cols];
        for (int r = 0; r < in.rows; r++) {
            double inv = rs[r];
            double sumG = 0;
            double sumGx = 0;
            for (int c = 0; c < cols; c++) {
                double xh = (in.get(r, c) - mu[r]) * inv;
                double gy = gr.get(r, c);
                dw[c] += gy * xh;
                db[c] += gy;
                double g = gy * (w == null ? 1 : w[c]);
                sumG += g;
                sumGx += g * xh;
            }
            sumG /= cols;
            sumGx /= cols;
            for (int c = 0; c < cols; c++) {
                double xh = (in.get(r, c) - mu[r]) * inv;
                double g = gr.get(r, c) * (w == null ? 1 : w[c]);
                CpuElementwise.set(
                        d, in.mt, (long) r * cols + c, inv * (g - sumG - xh * sumGx) + (ad == null ? 0 : ad.get(r, c)));
            }
        }
        Tensor dwt = weight == null
                ? null
                : CpuSupport.convert(Tensor.of(CpuSupport.mathType(weight.dtype()), dw, cols), weight.dtype());
        Tensor dbt = !hasBias ? null : Tensor.of(in.mt, db, cols);
        return new Tensor[] {CpuSupport.convert(dx, x.dtype()), dwt, dbt};
    }

    /** The rows of a norm backward's addend (null for none), which must match x. */
    private static Rows addend(String op, Tensor x, Tensor addend) {
        if (addend == null) {
            return null;
        }
        if (!addend.sameShape(x) || addend.dtype() != x.dtype()) {
            throw new IllegalArgumentException(
                    op + ": addend " + addend.describe() + " does not match the input " + x.describe());
        }
        return Rows.of(op, addend);
    }

    static double dotF32(MemorySegment a, long ao, MemorySegment b, long bo, int n) {
        FloatVector acc = FloatVector.zero(F);
        int bound = F.loopBound(n);
        int i = 0;
        for (; i < bound; i += F.length()) {
            acc = FloatVector.fromMemorySegment(F, a, (ao + i) * 4, NO)
                    .fma(FloatVector.fromMemorySegment(F, b, (bo + i) * 4, NO), acc);
        }
        double s = Lanes.sum(acc);
        for (; i < n; i++) {
            s += a.getAtIndex(ValueLayout.JAVA_FLOAT, ao + i) * b.getAtIndex(ValueLayout.JAVA_FLOAT, bo + i);
        }
        return s;
    }
}
