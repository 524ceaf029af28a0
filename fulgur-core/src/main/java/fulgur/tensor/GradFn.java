package fulgur.tensor;

/**
 * The recorded op that produced a tensor: its node of the autograd tape (the engine in {@code fulgur.autograd} knows
 * the rest). {@link Tensor#gradFn()} is null for leaves.
 */
public interface GradFn {
    /**
     * The op's name, e.g. "matmul".
     *
     * @return the name
     */
    String op();
}
