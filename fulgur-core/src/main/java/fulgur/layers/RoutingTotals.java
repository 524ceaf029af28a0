package fulgur.layers;

import java.util.HashMap;
import java.util.Map;

/**
 * The load-balancing statistics of a sequence that MoE layers see in several calls (a long sequence trained in
 * chunks). The loss α·E·Σ_i f_i·P_i is not a sum over calls: f_i, the fraction of tokens routed to expert i, is a
 * property of the whole sequence. So a first pass {@link #count counts} each layer's routing over every call, then
 * {@link #fix fixes} the fractions, and in the second pass each call adds α·E·Σ_i f_i·P_i^c·n_c/N, its share of the
 * whole loss (n_c of N tokens, P^c its mean router probabilities): the shares sum to the loss of one call over the
 * whole sequence, and so do their gradients.
 */
public final class RoutingTotals {
    private final Map<Integer, long[]> counts = new HashMap<>();
    private final Map<Integer, Long> tokens = new HashMap<>();
    private boolean fixed;

    /** Adds one call's routing of layer {@code layer}: {@code perExpert[i]} (token, slot) pairs to expert i among {@code n} tokens. */
    public void count(int layer, int[] perExpert, long n) {
        if (fixed) {
            throw new IllegalStateException("routing totals: counting after the fractions were fixed");
        }
        long[] c = counts.computeIfAbsent(layer, k -> new long[perExpert.length]);
        if (c.length != perExpert.length) {
            throw new IllegalArgumentException("routing totals: layer " + layer + " has " + c.length
                    + " experts, got counts for " + perExpert.length);
        }
        for (int i = 0; i < c.length; i++) {
            c[i] += perExpert[i];
        }
        tokens.merge(layer, n, Long::sum);
    }

    /** Whether nothing was counted (the model has no MoE layers, or no call ran yet). */
    public boolean isEmpty() {
        return counts.isEmpty();
    }

    /** Ends counting: from now on {@link #fractions} and {@link #tokens} give the whole sequence's figures. */
    public void fix() {
        fixed = true;
    }

    public boolean isFixed() {
        return fixed;
    }

    /** f_i of layer {@code layer} over the whole sequence: pairs routed to expert i per token. */
    public double[] fractions(int layer) {
        long[] c = counted(layer);
        long n = tokens.get(layer);
        double[] f = new double[c.length];
        for (int i = 0; i < c.length; i++) {
            f[i] = n == 0 ? 0 : (double) c[i] / n;
        }
        return f;
    }

    /** Tokens layer {@code layer} routed over the whole sequence. */
    public long tokens(int layer) {
        counted(layer);
        return tokens.get(layer);
    }

    private long[] counted(int layer) {
        if (!fixed) {
            throw new IllegalStateException("routing totals: the fractions are read before counting ended");
        }
        long[] c = counts.get(layer);
        if (c == null) {
            throw new IllegalStateException(
                    "routing totals: layer " + layer + " routed no tokens in the counting pass");
        }
        return c;
    }
}
