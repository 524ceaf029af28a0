package fulgur.autograd;

import fulgur.tensor.GradFn;
import fulgur.tensor.Tensor;

/** One recorded op on the tape: its inputs and how to turn the output's gradient into the inputs' gradients. */
public final class Node implements GradFn {

    /** Maps the gradient of the op's output to one gradient per input (null where an input needs none). */
    @FunctionalInterface
    public interface Backward {
        /**
         * Computes the inputs' gradients.
         *
         * @param gradOutput the gradient of the op's output (the output's shape)
         * @return one gradient per input, in the order of the inputs, each of its input's shape or null
         */
        Tensor[] apply(Tensor gradOutput);
    }

    /**
     * A backward that may fold the gradient summed so far for an input into the gradient it computes for that input
     * (one pass writing the sum, instead of its own gradient and then a sum): a norm's backward adding the residual
     * stream's gradient, say. Where it takes a partial sum (see {@link PartialGrads#take}), the gradient it returns for
     * that input is the whole sum.
     */
    @FunctionalInterface
    public interface FoldingBackward extends Backward {
        /**
         * Computes the inputs' gradients.
         *
         * @param gradOutput the gradient of the op's output
         * @param partial the gradients summed so far for the inputs (read-only)
         * @return one gradient per input, in the order of the inputs, each of its input's shape or null
         */
        Tensor[] apply(Tensor gradOutput, PartialGrads partial);

        @Override
        default Tensor[] apply(Tensor gradOutput) {
            return apply(gradOutput, PartialGrads.NONE);
        }
    }

    /**
     * Marks a node whose output is the slice [start, start + length) on {@code axis} of its one input of shape
     * {@code full}: the engine then writes the output's gradient into that slice of a gradient buffer it owns
     * instead of calling the backward (which pads), so the pieces of a split cost one buffer, not one each.
     */
    record Slice(int axis, int start, int[] full) {}

    private final String op;
    private final Tensor[] inputs;
    private final Backward backward;
    private final Slice slice;

    /**
     * A node for {@code op} with the given inputs and gradient.
     *
     * @param op the op's name, shown in errors
     * @param inputs the op's inputs
     * @param backward the op's gradient
     */
    public Node(String op, Tensor[] inputs, Backward backward) {
        this(op, inputs, backward, null);
    }

    Node(String op, Tensor[] inputs, Backward backward, Slice slice) {
        this.op = op;
        this.inputs = inputs;
        this.backward = backward;
        this.slice = slice;
    }

    /** The node that produced t (null for a leaf); every grad-fn is one the ops recorded through {@link Autograd}. */
    static Node of(Tensor t) {
        return (Node) t.gradFn();
    }

    @Override
    public String op() {
        return op;
    }

    Tensor[] inputs() {
        return inputs;
    }

    Backward backwardFn() {
        return backward;
    }

    Slice slice() {
        return slice;
    }
}
