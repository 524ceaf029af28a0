package fulgur.ops.lightning;

/**
 * The per-head decay schedule of the official Lightning Attention / TransNormerLLM / MiniMax-01 code.
 *
 * <p>Base slopes are the ALiBi slopes of {@code _get_slopes(H)}: for H a power of two, {@code slope_h = 2^(-8h/H)},
 * h = 1..H; otherwise the H' = P slopes of the largest power of two {@code P < H}, followed by
 * {@code get_slopes_power_of_2(2P)[0::2][:H-P]} (every second slope of 2P, starting with the first). Note the
 * result is then not sorted: for H = 12 the last four heads have slopes 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5.
 *
 * <p>Per layer l of L the slope is scaled so that layer 0 decays fastest and the last layer barely decays:
 * <ul>
 *   <li>TNL (HF {@code modeling_transnormer.py}, lightning-attention examples):
 *       {@code slope · (1 − l/(L−1) + 1e−5)}. The official code divides by zero for L = 1; here a single-layer model
 *       uses the layer-0 factor {@code 1 + 1e−5} (the limit of the MiniMax form, and what layer 0 gets for any L).</li>
 *   <li>MiniMax-01 (HF {@code modular_minimax.py}): {@code slope · (1 − l/(L−1+1e−5) + 1e−5)}, defined for L = 1.</li>
 * </ul>
 * {@code λ = exp(−slope)}; the kernels take slopes and form {@code λ^i = exp(−slope·i)} directly.
 *
 * <p><b>Pitfall.</b> fla's {@code chunk_lightning_attn} uses the TNL paper's literal formula
 * {@code λ_h = exp(−(8h/H)(1 − l/L))}, h = 0..H−1, which gives head 0 no decay at all and the last head
 * λ ≈ e^−7.9 at layer 0. That is a different model; this class does not implement it (a test pins the difference).
 */
public final class LightningDecay {

    private LightningDecay() {}

    /** ALiBi base slopes for {@code heads} heads, exactly as the official {@code _get_slopes}. */
    public static double[] slopes(int heads) {
        if (heads < 1) {
            throw new IllegalArgumentException("lightning.decay.slopes: heads = " + heads + ", expected >= 1");
        }
        if (Integer.bitCount(heads) == 1) {
            return slopesPowerOfTwo(heads);
        }
        int p = Integer.highestOneBit(heads); // largest power of two below heads
        double[] out = new double[heads];
        double[] base = slopesPowerOfTwo(p);
        System.arraycopy(base, 0, out, 0, p);
        double[] twice = slopesPowerOfTwo(2 * p);
        for (int i = 0; i < heads - p; i++) {
            out[p + i] = twice[2 * i];
        }
        return out;
    }

    /** TNL per-layer slopes: {@code slope_h · (1 − layer/(numLayers−1) + 1e−5)}; numLayers = 1 uses factor 1 + 1e−5. */
    public static double[] tnlSlopes(int heads, int layer, int numLayers) {
        checkLayer("lightning.decay.tnlSlopes", layer, numLayers);
        double factor = numLayers == 1 ? 1 + 1e-5 : 1 - (double) layer / (numLayers - 1) + 1e-5;
        return scaled(slopes(heads), factor);
    }

    /** MiniMax-01 per-layer slopes: {@code slope_h · (1 − layer/(numLayers−1+1e−5) + 1e−5)}. */
    public static double[] minimaxSlopes(int heads, int layer, int numLayers) {
        checkLayer("lightning.decay.minimaxSlopes", layer, numLayers);
        double factor = 1 - layer / (numLayers - 1 + 1e-5) + 1e-5;
        return scaled(slopes(heads), factor);
    }

    /** {@code exp(−slope)} per head. */
    public static double[] lambdas(double[] slopes) {
        double[] out = new double[slopes.length];
        for (int h = 0; h < slopes.length; h++) {
            out[h] = Math.exp(-slopes[h]);
        }
        return out;
    }

    /** The decay λ per head of a TNL layer. */
    public static double[] tnlLambdas(int heads, int layer, int numLayers) {
        return lambdas(tnlSlopes(heads, layer, numLayers));
    }

    /** The decay λ per head of a MiniMax-01 lightning layer. */
    public static double[] minimaxLambdas(int heads, int layer, int numLayers) {
        return lambdas(minimaxSlopes(heads, layer, numLayers));
    }

    /** {@code get_slopes_power_of_2(n)}: start = 2^(−2^−(log2 n − 3)) = 2^(−8/n); slope_i = start·start^i. */
    private static double[] slopesPowerOfTwo(int n) {
        int log2 = Integer.numberOfTrailingZeros(n);
        double start = Math.pow(2, -Math.pow(2, -(log2 - 3)));
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            out[i] = start * Math.pow(start, i);
        }
        return out;
    }

    private static double[] scaled(double[] s, double factor) {
        for (int i = 0; i < s.length; i++) {
            s[i] *= factor;
        }
        return s;
    }

    private static void checkLayer(String op, int layer, int numLayers) {
        if (numLayers < 1 || layer < 0 || layer >= numLayers) {
            throw new IllegalArgumentException(op + ": layer = " + layer + " of numLayers = " + numLayers
                    + ", expected numLayers >= 1 and 0 <= layer < numLayers");
        }
    }
}
