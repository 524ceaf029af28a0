package fulgur.autograd;

import fulgur.tensor.Tensor;

/** One recorded op on the tape: its inputs and how to turn the output's gradient into the inputs' gradients. */
public final class Node {

    /** Maps the gradient of the op's output to one gradient per input (null where an input needs none). */
    @FunctionalInterface
    public interface Backward {
        Tensor[] apply(Tensor gradOutput);
    }

    private final String op;
    private final Tensor[] inputs;
    private final Backward backward;

    public Node(String op, Tensor[] inputs, Backward backward) {
        this.op = op;
        this.inputs = inputs;
        this.backward = backward;
    }

    public String op() {
        return op;
    }

    Tensor[] inputs() {
        return inputs;
    }

    Backward backwardFn() {
        return backward;
    }
}
