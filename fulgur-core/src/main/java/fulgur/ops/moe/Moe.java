package fulgur.ops.moe;

import fulgur.autograd.Autograd;
import fulgur.ops.LinearAlgebra;
import fulgur.ops.Views;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Sparse mixture-of-experts as ops: the whole layer on the device's {@link MoeKernels} ({@link #layer}: routing,
 * grouping and the experts' products with no host reads), and the composed pieces of the layer for devices and
 * arguments without them: grouping routed tokens by expert ({@link #dispatch}, a counting sort on the host) and the
 * grouped expert linear map ({@link #groupedLinear}, one matrix product per expert).
 */
public final class Moe {
    private Moe() {}

    /**
     * The routed rows grouped by expert: {@code tokens[r]} and {@code pairs[r]} (token·k + slot) of grouped row r (i64
     * [N·k] on the device), {@code counts[e]} rows for expert e (host).
     */
    public record Dispatch(Tensor tokens, Tensor pairs, int[] counts) {
        public Dispatch {
            counts = counts.clone();
        }

        @Override
        public int[] counts() {
            return counts.clone();
        }

        /** Row where expert e's group starts. */
        public int start(int e) {
            int s = 0;
            for (int i = 0; i < e; i++) {
                s += counts[i];
            }
            return s;
        }
    }

    /** Groups the (token, slot) pairs of {@code topk} [N, k] (expert ids in [0, experts)) by expert, stably. */
    public static Dispatch dispatch(Tensor topk, int experts) {
        topk.checkAlive("moe.dispatch");
        if (topk.ndim() != 2 || topk.dtype().isFloating() || experts < 1) {
            throw new IllegalArgumentException("moe.dispatch: expected integer expert ids [N, k] and experts ≥ 1, got "
                    + topk.describe() + " and " + experts);
        }
        return countingSort(topk, experts);
    }

    /** The ids read to the host and counting-sorted there. */
    private static Dispatch countingSort(Tensor topk, int experts) {
        int n = topk.size(0), k = topk.size(1);
        long[] picked = topk.toLongArray();
        int[] counts = new int[experts];
        for (long p : picked) {
            if (p < 0 || p >= experts) {
                throw new IndexOutOfBoundsException("moe.dispatch: expert id " + p + " outside [0, " + experts + ")");
            }
            counts[(int) p]++;
        }
        int[] fill = new int[experts];
        for (int i = 1; i < experts; i++) {
            fill[i] = fill[i - 1] + counts[i - 1];
        }
        long[] tokenOf = new long[n * k];
        long[] pairOf = new long[n * k];
        for (int pair = 0; pair < picked.length; pair++) {
            int at = fill[(int) picked[pair]]++;
            tokenOf[at] = pair / k;
            pairOf[at] = pair;
        }
        return new Dispatch(
                Tensor.ofLongs(tokenOf, n * k).to(topk.device()),
                Tensor.ofLongs(pairOf, n * k).to(topk.device()),
                counts);
    }

    /**
     * rows [M, K] grouped by expert ({@code counts}) → [M, Nout]: group e times {@code weights[e]}ᵀ ([Nout, K]).
     * Gradients flow to the rows and the weights.
     */
    public static Tensor groupedLinear(Tensor rows, int[] counts, Tensor[] weights) {
        String op = "moe.groupedLinear";
        rows.checkAlive(op);
        if (counts.length != weights.length || rows.ndim() != 2) {
            throw new IllegalArgumentException(op + ": expected rows [M, K] and one weight per expert count, got "
                    + rows.describe() + ", " + counts.length + " counts and " + weights.length + " weights");
        }
        long total = 0;
        for (int e = 0; e < weights.length; e++) {
            weights[e].checkAlive(op);
            if (weights[e].ndim() != 2
                    || weights[e].size(1) != rows.size(1)
                    || weights[e].size(0) != weights[0].size(0)
                    || counts[e] < 0) {
                throw new IllegalArgumentException(
                        op + ": expert " + e + " has weight " + weights[e].describe() + " and " + counts[e]
                                + " rows; expected [Nout, " + rows.size(1) + "] weights of one shape and counts ≥ 0");
            }
            total += counts[e];
        }
        if (total != rows.size(0)) {
            throw new IllegalArgumentException(
                    op + ": counts " + Arrays.toString(counts) + " add up to " + total + ", rows has " + rows.size(0));
        }
        List<Tensor> outs = new ArrayList<>();
        int at = 0;
        for (int e = 0; e < weights.length; e++) {
            if (counts[e] > 0) {
                outs.add(LinearAlgebra.linear(Views.narrow(rows, 0, at, counts[e]), weights[e], null));
            }
            at += counts[e];
        }
        if (outs.isEmpty()) {
            return Tensor.zeros(rows.dtype(), rows.device(), 0, weights[0].size(0));
        }
        return outs.size() == 1 ? outs.get(0) : Views.concat(0, outs.toArray(Tensor[]::new));
    }

    /** The layer's output [N, D] (in the graph) and the per-expert pair counts (i32 [E] on the device). */
    public record Layer(Tensor out, Tensor counts) {}

    /**
     * The whole layer on {@code kernels} (see {@link MoeKernels}): x [N, D], router logits [N, E], stacked expert
     * weights w1, w3 [E, F, D] and w2 [E, D, F]. Gradients flow to x, the logits and the three weights.
     */
    public static Layer layer(
            MoeKernels kernels, Tensor x, Tensor logits, Tensor w1, Tensor w3, Tensor w2, MoeKernels.Routing routing) {
        String op = "moe.layer";
        for (Tensor t : new Tensor[] {x, logits, w1, w3, w2}) {
            t.checkAlive(op);
        }
        int n = x.size(0), d = x.size(1), e = logits.size(1), f = w1.size(1);
        if (x.ndim() != 2
                || logits.ndim() != 2
                || logits.size(0) != n
                || w1.ndim() != 3
                || !Arrays.equals(w1.shape(), new int[] {e, f, d})
                || !Arrays.equals(w3.shape(), w1.shape())
                || !Arrays.equals(w2.shape(), new int[] {e, d, f})
                || routing.topK() > e) {
            throw new IllegalArgumentException(
                    op + ": expected x [N, D], logits [N, E], w1 and w3 [E, F, D], w2 [E, D, F] and top-k ≤ E, got "
                            + x.describe() + ", " + logits.describe() + ", " + w1.describe() + ", " + w3.describe()
                            + ", " + w2.describe() + " and top-"
                            + routing.topK());
        }
        MoeKernels.Forward fwd =
                kernels.forward(x, logits, w1, w3, w2, routing, Autograd.needsGrad(x, logits, w1, w3, w2));
        Tensor out = Autograd.record(
                op,
                fwd.out(),
                new Tensor[] {x, logits, w1, w3, w2},
                g -> kernels.backward(x, logits, w1, w3, w2, routing, fwd, g));
        return new Layer(out, fwd.counts());
    }
}
