package fulgur.cuda.ops.lightning;

/** The lightning recurrence in double precision (test oracle), forward and backward. */
final class LightningReference {
    double[] o, dq, dk, dv, finalState, dS0;

    /**
     * q,k [B,T,H,dk], v,dout [B,T,H,dv], s0/dht [B,H,dk,dv] (null = zero).
     */
    static LightningReference run(
            int B,
            int T,
            int H,
            int DK,
            int DV,
            float[] q,
            float[] k,
            float[] v,
            float[] dout,
            float[] slopes,
            float scale,
            float[] s0,
            float[] dht) {
        LightningReference r = new LightningReference();
        r.o = new double[B * T * H * DV];
        r.dq = new double[B * T * H * DK];
        r.dk = new double[B * T * H * DK];
        r.dv = new double[B * T * H * DV];
        r.finalState = new double[B * H * DK * DV];
        r.dS0 = new double[B * H * DK * DV];
        double[] S = new double[DK * DV], G = new double[DK * DV];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                double lam = Math.exp(-(double) slopes[h]);
                int sBase = (b * H + h) * DK * DV;
                for (int i = 0; i < DK * DV; i++) S[i] = s0 == null ? 0 : s0[sBase + i];
                for (int t = 0; t < T; t++) {
                    int qo = ((b * T + t) * H + h) * DK, vo = ((b * T + t) * H + h) * DV;
                    for (int i = 0; i < DK; i++)
                        for (int j = 0; j < DV; j++)
                            S[i * DV + j] = lam * S[i * DV + j] + (double) k[qo + i] * v[vo + j];
                    for (int j = 0; j < DV; j++) {
                        double acc = 0;
                        for (int i = 0; i < DK; i++) acc += (double) q[qo + i] * S[i * DV + j];
                        r.o[vo + j] = scale * acc;
                    }
                    for (int i = 0; i < DK; i++) {
                        double acc = 0;
                        for (int j = 0; j < DV; j++) acc += (double) dout[vo + j] * S[i * DV + j];
                        r.dq[qo + i] = scale * acc;
                    }
                }
                System.arraycopy(S, 0, r.finalState, sBase, DK * DV);
                // reverse: G_t = carry + scale q_t^T do_t, carry = lambda G_t, starting at carry = dht
                for (int i = 0; i < DK * DV; i++) G[i] = dht == null ? 0 : dht[sBase + i];
                for (int t = T - 1; t >= 0; t--) {
                    int qo = ((b * T + t) * H + h) * DK, vo = ((b * T + t) * H + h) * DV;
                    for (int i = 0; i < DK; i++)
                        for (int j = 0; j < DV; j++) G[i * DV + j] += scale * (double) q[qo + i] * dout[vo + j];
                    for (int i = 0; i < DK; i++) {
                        double acc = 0;
                        for (int j = 0; j < DV; j++) acc += G[i * DV + j] * v[vo + j];
                        r.dk[qo + i] = acc;
                    }
                    for (int j = 0; j < DV; j++) {
                        double acc = 0;
                        for (int i = 0; i < DK; i++) acc += (double) k[qo + i] * G[i * DV + j];
                        r.dv[vo + j] = acc;
                    }
                    for (int i = 0; i < DK * DV; i++) G[i] *= lam;
                }
                System.arraycopy(G, 0, r.dS0, sBase, DK * DV);
            }
        return r;
    }
}
