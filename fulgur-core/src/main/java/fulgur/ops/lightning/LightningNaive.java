package fulgur.ops.lightning;

import java.lang.foreign.MemorySegment;

/**
 * The test oracle: lightning attention in its quadratic form with the decay mask written out, in f64 throughout.
 *
 * <p>Per sequence and head, with λ = exp(−slope), initial state S₀ (zero when absent) and n tokens:
 * <pre>
 *   o_t = scale · ( Σ_{s≤t} λ^{t−s} (q_t·k_s) v_s  +  λ^{t+1} q_t S₀ )
 *   S_n = λ^n S₀ + Σ_s λ^{n−1−s} k_sᵀ v_s
 * </pre>
 * which is the recurrence {@code S_t = λ S_{t−1} + k_tᵀ v_t, o_t = scale · q_t S_t} with {@code S_{−1} = S₀}: the
 * initial state is decayed once per step up to and including step t. The backward differentiates these sums term
 * by term. Costs O(T²·(dk+dv)) per head: for tests and small problems only.
 *
 * <p>Layouts as in {@link LightningShape}; {@code cuSeqlens} (nullable, batch must be 1) packs several sequences
 * along T with the state reset at each boundary, states then being {@code [N,H,dk,dv]}. Optional tensors
 * ({@code initialState}, {@code finalState}, {@code dFinalState}, {@code dInitialState}) may be null.
 * The {@code F64} variants take segments of doubles; the others take floats (and still compute in f64).
 */
public final class LightningNaive {

    private LightningNaive() {}

    public static void forward(
            LightningShape shape,
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            double[] slopes,
            double scale,
            int[] cuSeqlens,
            MemorySegment initialState,
            MemorySegment out,
            MemorySegment finalState) {
        forward(
                "lightning.naive.forward",
                false,
                shape,
                q,
                k,
                v,
                slopes,
                scale,
                cuSeqlens,
                initialState,
                out,
                finalState);
    }

    public static void forwardF64(
            LightningShape shape,
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            double[] slopes,
            double scale,
            int[] cuSeqlens,
            MemorySegment initialState,
            MemorySegment out,
            MemorySegment finalState) {
        forward(
                "lightning.naive.forwardF64",
                true,
                shape,
                q,
                k,
                v,
                slopes,
                scale,
                cuSeqlens,
                initialState,
                out,
                finalState);
    }

    public static void backward(
            LightningShape shape,
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            double[] slopes,
            double scale,
            int[] cuSeqlens,
            MemorySegment initialState,
            MemorySegment dOut,
            MemorySegment dFinalState,
            MemorySegment dq,
            MemorySegment dk,
            MemorySegment dv,
            MemorySegment dInitialState) {
        backward(
                "lightning.naive.backward",
                false,
                shape,
                q,
                k,
                v,
                slopes,
                scale,
                cuSeqlens,
                initialState,
                dOut,
                dFinalState,
                dq,
                dk,
                dv,
                dInitialState);
    }

    public static void backwardF64(
            LightningShape shape,
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            double[] slopes,
            double scale,
            int[] cuSeqlens,
            MemorySegment initialState,
            MemorySegment dOut,
            MemorySegment dFinalState,
            MemorySegment dq,
            MemorySegment dk,
            MemorySegment dv,
            MemorySegment dInitialState) {
        backward(
                "lightning.naive.backwardF64",
                true,
                shape,
                q,
                k,
                v,
                slopes,
                scale,
                cuSeqlens,
                initialState,
                dOut,
                dFinalState,
                dq,
                dk,
                dv,
                dInitialState);
    }

    // ------------------------------------------------------------------------------------------------ forward

    private static void forward(
            String op,
            boolean f64,
            LightningShape sh,
            MemorySegment qs,
            MemorySegment ks,
            MemorySegment vs,
            double[] slopes,
            double scale,
            int[] cu,
            MemorySegment s0s,
            MemorySegment outs,
            MemorySegment sTs) {
        int bytes = f64 ? Double.BYTES : Float.BYTES;
        validate(op, sh, qs, ks, vs, slopes, scale, cu, bytes);
        int n = sh.sequences(cu);
        sh.checkOptional(op, "initialState", s0s, sh.stateElements(n), bytes, "[N,H,dk,dv]");
        sh.checkSegment(op, "out", outs, sh.voElements(), bytes, "[B,T,H,dv]");
        sh.checkOptional(op, "finalState", sTs, sh.stateElements(n), bytes, "[N,H,dk,dv]");

        double[] q = LightningIo.readAll(qs, f64);
        double[] k = LightningIo.readAll(ks, f64);
        double[] v = LightningIo.readAll(vs, f64);
        double[] s0 = s0s == null ? null : LightningIo.readAll(s0s, f64);
        double[] o = new double[v.length];
        double[] sT = new double[(int) sh.stateElements(n)];
        int heads = sh.heads(), d = sh.dk(), e = sh.dv();
        for (int seq = 0; seq < n; seq++) {
            int row0 = cu == null ? seq * sh.seqLen() : cu[seq];
            int len = cu == null ? sh.seqLen() : cu[seq + 1] - cu[seq];
            for (int h = 0; h < heads; h++) {
                double slope = slopes[h];
                int st = (seq * heads + h) * d * e;
                for (int t = 0; t < len; t++) {
                    int qt = ((row0 + t) * heads + h) * d;
                    int ot = ((row0 + t) * heads + h) * e;
                    for (int s = 0; s <= t; s++) {
                        int kso = ((row0 + s) * heads + h) * d;
                        int vso = ((row0 + s) * heads + h) * e;
                        double dot = 0;
                        for (int a = 0; a < d; a++) {
                            dot += q[qt + a] * k[kso + a];
                        }
                        double w = scale * Math.exp(-slope * (t - s)) * dot;
                        for (int c = 0; c < e; c++) {
                            o[ot + c] += w * v[vso + c];
                        }
                    }
                    if (s0 != null) {
                        double w = scale * Math.exp(-slope * (t + 1));
                        for (int a = 0; a < d; a++) {
                            for (int c = 0; c < e; c++) {
                                o[ot + c] += w * q[qt + a] * s0[st + a * e + c];
                            }
                        }
                    }
                }
                double carry = Math.exp(-slope * len);
                for (int i = 0; i < d * e; i++) {
                    sT[st + i] = s0 == null ? 0 : carry * s0[st + i];
                }
                for (int s = 0; s < len; s++) {
                    int kso = ((row0 + s) * heads + h) * d;
                    int vso = ((row0 + s) * heads + h) * e;
                    double w = Math.exp(-slope * (len - 1 - s));
                    for (int a = 0; a < d; a++) {
                        for (int c = 0; c < e; c++) {
                            sT[st + a * e + c] += w * k[kso + a] * v[vso + c];
                        }
                    }
                }
            }
        }
        LightningIo.writeAll(outs, o, f64);
        if (sTs != null) {
            LightningIo.writeAll(sTs, sT, f64);
        }
    }

    // ----------------------------------------------------------------------------------------------- backward

    private static void backward(
            String op,
            boolean f64,
            LightningShape sh,
            MemorySegment qs,
            MemorySegment ks,
            MemorySegment vs,
            double[] slopes,
            double scale,
            int[] cu,
            MemorySegment s0s,
            MemorySegment dos,
            MemorySegment dsTs,
            MemorySegment dqs,
            MemorySegment dks,
            MemorySegment dvs,
            MemorySegment ds0s) {
        int bytes = f64 ? Double.BYTES : Float.BYTES;
        validate(op, sh, qs, ks, vs, slopes, scale, cu, bytes);
        int n = sh.sequences(cu);
        sh.checkOptional(op, "initialState", s0s, sh.stateElements(n), bytes, "[N,H,dk,dv]");
        sh.checkSegment(op, "dOut", dos, sh.voElements(), bytes, "[B,T,H,dv]");
        sh.checkOptional(op, "dFinalState", dsTs, sh.stateElements(n), bytes, "[N,H,dk,dv]");
        sh.checkSegment(op, "dq", dqs, sh.qkElements(), bytes, "[B,T,H,dk]");
        sh.checkSegment(op, "dk", dks, sh.qkElements(), bytes, "[B,T,H,dk]");
        sh.checkSegment(op, "dv", dvs, sh.voElements(), bytes, "[B,T,H,dv]");
        sh.checkOptional(op, "dInitialState", ds0s, sh.stateElements(n), bytes, "[N,H,dk,dv]");

        double[] q = LightningIo.readAll(qs, f64);
        double[] k = LightningIo.readAll(ks, f64);
        double[] v = LightningIo.readAll(vs, f64);
        double[] g = LightningIo.readAll(dos, f64);
        double[] s0 = s0s == null ? null : LightningIo.readAll(s0s, f64);
        double[] dsT = dsTs == null ? null : LightningIo.readAll(dsTs, f64);
        double[] dq = new double[q.length];
        double[] dk = new double[k.length];
        double[] dv = new double[v.length];
        double[] ds0 = new double[(int) sh.stateElements(n)];
        int heads = sh.heads(), d = sh.dk(), e = sh.dv();
        for (int seq = 0; seq < n; seq++) {
            int row0 = cu == null ? seq * sh.seqLen() : cu[seq];
            int len = cu == null ? sh.seqLen() : cu[seq + 1] - cu[seq];
            for (int h = 0; h < heads; h++) {
                double slope = slopes[h];
                int st = (seq * heads + h) * d * e;
                // pairs s <= t of the masked quadratic form
                for (int t = 0; t < len; t++) {
                    int qt = ((row0 + t) * heads + h) * d;
                    int gt = ((row0 + t) * heads + h) * e;
                    for (int s = 0; s <= t; s++) {
                        int kso = ((row0 + s) * heads + h) * d;
                        int vso = ((row0 + s) * heads + h) * e;
                        double decay = scale * Math.exp(-slope * (t - s));
                        double qk = 0;
                        for (int a = 0; a < d; a++) {
                            qk += q[qt + a] * k[kso + a];
                        }
                        double gv = 0;
                        for (int c = 0; c < e; c++) {
                            gv += g[gt + c] * v[vso + c];
                        }
                        for (int a = 0; a < d; a++) {
                            dq[qt + a] += decay * gv * k[kso + a];
                            dk[kso + a] += decay * gv * q[qt + a];
                        }
                        for (int c = 0; c < e; c++) {
                            dv[vso + c] += decay * qk * g[gt + c];
                        }
                    }
                    // o_t depends on S0 through scale·λ^{t+1} q_t S0
                    double w = scale * Math.exp(-slope * (t + 1));
                    for (int a = 0; a < d; a++) {
                        for (int c = 0; c < e; c++) {
                            if (s0 != null) {
                                dq[qt + a] += w * s0[st + a * e + c] * g[gt + c];
                            }
                            ds0[st + a * e + c] += w * q[qt + a] * g[gt + c];
                        }
                    }
                }
                // S_n = λ^n S0 + Σ_s λ^{n-1-s} k_sᵀ v_s
                if (dsT != null) {
                    double carry = Math.exp(-slope * len);
                    for (int i = 0; i < d * e; i++) {
                        ds0[st + i] += carry * dsT[st + i];
                    }
                    for (int s = 0; s < len; s++) {
                        int kso = ((row0 + s) * heads + h) * d;
                        int vso = ((row0 + s) * heads + h) * e;
                        double ws = Math.exp(-slope * (len - 1 - s));
                        for (int a = 0; a < d; a++) {
                            for (int c = 0; c < e; c++) {
                                double gs = ws * dsT[st + a * e + c];
                                dk[kso + a] += gs * v[vso + c];
                                dv[vso + c] += gs * k[kso + a];
                            }
                        }
                    }
                }
            }
        }
        LightningIo.writeAll(dqs, dq, f64);
        LightningIo.writeAll(dks, dk, f64);
        LightningIo.writeAll(dvs, dv, f64);
        if (ds0s != null) {
            LightningIo.writeAll(ds0s, ds0, f64);
        }
    }

    private static void validate(
            String op,
            LightningShape sh,
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            double[] slopes,
            double scale,
            int[] cu,
            int bytes) {
        if (sh == null) {
            throw new IllegalArgumentException(op + ": shape must not be null");
        }
        sh.checkSlopes(op, slopes);
        LightningShape.checkScale(op, scale);
        sh.checkCuSeqlens(op, cu);
        sh.checkQkv(op, q, k, v, bytes);
    }
}
