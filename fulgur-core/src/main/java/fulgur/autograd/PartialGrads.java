package fulgur.autograd;

import fulgur.tensor.Tensor;
import java.util.function.IntFunction;

/**
 * The gradients the backward pass has summed so far for a node's inputs, offered to a {@link Node.FoldingBackward}.
 * {@link #peek} shows one without claiming it; {@link #take} claims it: the backward then promises that the gradient it
 * returns for that input includes it, and the engine replaces the sum with that gradient instead of adding to it.
 */
public final class PartialGrads {
    /** No partial sums (a backward called outside the engine). */
    static final PartialGrads NONE = new PartialGrads(i -> null, 0);

    private final IntFunction<Tensor> sums;
    private final boolean[] taken;

    PartialGrads(IntFunction<Tensor> sums, int inputs) {
        this.sums = sums;
        this.taken = new boolean[inputs];
    }

    /**
     * Input i's gradient summed so far, without claiming it.
     *
     * @param i the input's position
     * @return the sum (contiguous, never to be written), or null when there is none yet
     */
    public Tensor peek(int i) {
        return i < taken.length ? sums.apply(i) : null;
    }

    /**
     * Claims input i's partial sum: the gradient the backward returns for input i must then include it.
     *
     * @param i the input's position
     * @return the sum (contiguous, never to be written), or null when there is none (nothing is claimed)
     */
    public Tensor take(int i) {
        Tensor t = peek(i);
        if (t != null) {
            taken[i] = true;
        }
        return t;
    }

    boolean taken(int i) {
        return i < taken.length && taken[i];
    }
}
