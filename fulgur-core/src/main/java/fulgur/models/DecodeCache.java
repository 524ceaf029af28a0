package fulgur.models;

import fulgur.tensor.Tensor;
import java.util.List;

/** Per-sequence decoding state of a model (recurrent states, KV caches). */
public interface DecodeCache extends AutoCloseable {

    /**
     * Tokens consumed so far.
     *
     * @return the count (the one row's count; a cache over several rows throws IllegalStateException)
     */
    long position();

    /**
     * Bytes of state held now.
     *
     * @return the bytes
     */
    long stateBytes();

    /**
     * The fixed-size state tensors, each [B, ...] (batch first), in the order {@link CausalLM#newCache(BatchState)}
     * binds them; empty before the first token. Softmax layers' keys and values are not among them.
     *
     * @return the state tensors
     * @throws UnsupportedOperationException when the cache does not list them
     */
    default List<Tensor> stateTensors() {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not list its state tensors");
    }

    /**
     * Bytes of keys and values a token adds (softmax layers; 0 for a purely recurrent model), known after a token.
     *
     * @return the bytes per token
     */
    default long kvBytesPerToken() {
        return 0;
    }

    @Override
    void close();
}
