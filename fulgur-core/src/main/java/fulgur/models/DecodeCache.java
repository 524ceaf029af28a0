package fulgur.models;

/** Per-sequence decoding state of a model (recurrent states, KV caches). */
public interface DecodeCache extends AutoCloseable {

    /** Tokens consumed so far. */
    long position();

    /** Bytes of state held now. */
    long stateBytes();

    @Override
    void close();
}
