package fulgur.ops.lightning;

/**
 * The chunked algorithm of {@link LightningChunked} in plain f64 loops: same blocks, same intra/inter split, same
 * two backward passes, no vectorization. Used for finite-difference gradient checks of the algorithm.
 */
final class ChunkedF64 {

    private ChunkedF64() {}

    static void forward(LightningChunked.Args c) {
        LightningShape sh = c.shape();
        int heads = sh.heads(), d = sh.dk(), e = sh.dv(), blk = c.blockSize();
        double scale = c.scale();
        double[] q = LightningIo.readAll(c.q(), true);
        double[] k = LightningIo.readAll(c.k(), true);
        double[] v = LightningIo.readAll(c.v(), true);
        double[] s0 = c.s0() == null ? null : LightningIo.readAll(c.s0(), true);
        double[] o = new double[v.length];
        double[] sT = new double[(int) sh.stateElements(c.sequences())];
        double[] s = new double[d * e];
        for (int seq = 0; seq < c.sequences(); seq++) {
            int row0 = (int) c.row0(seq), len = c.length(seq);
            for (int h = 0; h < heads; h++) {
                double slope = c.slopes()[h];
                int st = (int) c.stateOffset(seq, h);
                for (int i = 0; i < d * e; i++) {
                    s[i] = s0 == null ? 0 : s0[st + i];
                }
                for (int t0 = 0; t0 < len; t0 += blk) {
                    int n = Math.min(blk, len - t0);
                    for (int i = 0; i < n; i++) {
                        int qi = qk(row0 + t0 + i, heads, h, d), oi = qk(row0 + t0 + i, heads, h, e);
                        for (int j = 0; j <= i; j++) {
                            int kj = qk(row0 + t0 + j, heads, h, d), vj = qk(row0 + t0 + j, heads, h, e);
                            double w = scale * Math.exp(-slope * (i - j)) * dot(q, qi, k, kj, d);
                            for (int x = 0; x < e; x++) {
                                o[oi + x] += w * v[vj + x];
                            }
                        }
                        double qd = scale * Math.exp(-slope * (i + 1));
                        for (int a = 0; a < d; a++) {
                            for (int x = 0; x < e; x++) {
                                o[oi + x] += qd * q[qi + a] * s[a * e + x];
                            }
                        }
                    }
                    advanceState(s, k, v, row0 + t0, n, heads, h, d, e, slope);
                }
                System.arraycopy(s, 0, sT, st, d * e);
            }
        }
        LightningIo.writeAll(c.out(), o, true);
        if (c.sT() != null) {
            LightningIo.writeAll(c.sT(), sT, true);
        }
    }

    static void backward(LightningChunked.Args c) {
        LightningShape sh = c.shape();
        int heads = sh.heads(), d = sh.dk(), e = sh.dv(), blk = c.blockSize();
        double scale = c.scale();
        double[] q = LightningIo.readAll(c.q(), true);
        double[] k = LightningIo.readAll(c.k(), true);
        double[] v = LightningIo.readAll(c.v(), true);
        double[] g = LightningIo.readAll(c.dOut(), true);
        double[] s0 = c.s0() == null ? null : LightningIo.readAll(c.s0(), true);
        double[] dsT = c.dsT() == null ? null : LightningIo.readAll(c.dsT(), true);
        double[] dq = new double[q.length], dk = new double[k.length], dv = new double[v.length];
        double[] ds0 = new double[(int) sh.stateElements(c.sequences())];
        double[] s = new double[d * e];
        for (int seq = 0; seq < c.sequences(); seq++) {
            int row0 = (int) c.row0(seq), len = c.length(seq);
            for (int h = 0; h < heads; h++) {
                double slope = c.slopes()[h];
                int st = (int) c.stateOffset(seq, h);
                // pass 1: ascending, state recomputed
                for (int i = 0; i < d * e; i++) {
                    s[i] = s0 == null ? 0 : s0[st + i];
                }
                for (int t0 = 0; t0 < len; t0 += blk) {
                    int n = Math.min(blk, len - t0);
                    for (int i = 0; i < n; i++) {
                        int qi = qk(row0 + t0 + i, heads, h, d), gi = qk(row0 + t0 + i, heads, h, e);
                        for (int j = 0; j <= i; j++) {
                            int kj = qk(row0 + t0 + j, heads, h, d), vj = qk(row0 + t0 + j, heads, h, e);
                            double decay = scale * Math.exp(-slope * (i - j));
                            double mij = decay * dot(g, gi, v, vj, e);
                            double aij = decay * dot(q, qi, k, kj, d);
                            for (int a = 0; a < d; a++) {
                                dq[qi + a] += mij * k[kj + a];
                                dk[kj + a] += mij * q[qi + a];
                            }
                            for (int x = 0; x < e; x++) {
                                dv[vj + x] += aij * g[gi + x];
                            }
                        }
                        double qd = scale * Math.exp(-slope * (i + 1));
                        for (int a = 0; a < d; a++) {
                            double acc = 0;
                            for (int x = 0; x < e; x++) {
                                acc += s[a * e + x] * g[gi + x];
                            }
                            dq[qi + a] += qd * acc;
                        }
                    }
                    advanceState(s, k, v, row0 + t0, n, heads, h, d, e, slope);
                }
                // pass 2: descending, dS carried backwards
                for (int i = 0; i < d * e; i++) {
                    s[i] = dsT == null ? 0 : dsT[st + i];
                }
                int last = len == 0 ? -1 : (len - 1) / blk * blk;
                for (int t0 = last; t0 >= 0; t0 -= blk) {
                    int n = Math.min(blk, len - t0);
                    for (int j = 0; j < n; j++) {
                        int kj = qk(row0 + t0 + j, heads, h, d), vj = qk(row0 + t0 + j, heads, h, e);
                        double kd = Math.exp(-slope * (n - 1 - j));
                        for (int a = 0; a < d; a++) {
                            for (int x = 0; x < e; x++) {
                                double w = kd * s[a * e + x];
                                dk[kj + a] += w * v[vj + x];
                                dv[vj + x] += w * k[kj + a];
                            }
                        }
                    }
                    double carry = Math.exp(-slope * n);
                    for (int i = 0; i < d * e; i++) {
                        s[i] *= carry;
                    }
                    for (int i = 0; i < n; i++) {
                        int qi = qk(row0 + t0 + i, heads, h, d), gi = qk(row0 + t0 + i, heads, h, e);
                        double qd = scale * Math.exp(-slope * (i + 1));
                        for (int a = 0; a < d; a++) {
                            for (int x = 0; x < e; x++) {
                                s[a * e + x] += qd * q[qi + a] * g[gi + x];
                            }
                        }
                    }
                }
                System.arraycopy(s, 0, ds0, st, d * e);
            }
        }
        LightningIo.writeAll(c.dq(), dq, true);
        LightningIo.writeAll(c.dk(), dk, true);
        LightningIo.writeAll(c.dv(), dv, true);
        if (c.ds0() != null) {
            LightningIo.writeAll(c.ds0(), ds0, true);
        }
    }

    /** {@code S ← λ^n S + Σ_j λ^{n−1−j} k_jᵀ v_j} over the n tokens starting at {@code row}. */
    private static void advanceState(
            double[] s, double[] k, double[] v, int row, int n, int heads, int h, int d, int e, double slope) {
        double carry = Math.exp(-slope * n);
        for (int i = 0; i < d * e; i++) {
            s[i] *= carry;
        }
        for (int j = 0; j < n; j++) {
            int kj = qk(row + j, heads, h, d), vj = qk(row + j, heads, h, e);
            double kd = Math.exp(-slope * (n - 1 - j));
            for (int a = 0; a < d; a++) {
                double ka = kd * k[kj + a];
                for (int x = 0; x < e; x++) {
                    s[a * e + x] += ka * v[vj + x];
                }
            }
        }
    }

    /** Element index of (row, head h) in a {@code [rows, heads, width]} tensor. */
    private static int qk(int row, int heads, int h, int width) {
        return (row * heads + h) * width;
    }

    private static double dot(double[] x, int xo, double[] y, int yo, int n) {
        double acc = 0;
        for (int i = 0; i < n; i++) {
            acc += x[xo + i] * y[yo + i];
        }
        return acc;
    }
}
