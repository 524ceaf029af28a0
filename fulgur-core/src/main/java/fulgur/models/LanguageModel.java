package fulgur.models;

/** A causal language model that owns its parameters: what {@link Architecture#build} returns. */
public interface LanguageModel extends CausalLM, AutoCloseable {

    /** {@return the total number of parameter elements} */
    long parameterCount();

    /**
     * One line for logs, e.g. "TransNormerLLM, 2 layers, width 128, 4 heads".
     *
     * @return the line
     */
    String describe();

    @Override
    void close();
}
