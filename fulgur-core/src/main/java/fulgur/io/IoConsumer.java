package fulgur.io;

import java.io.IOException;

/**
 * A consumer that may throw {@link IOException}, for callbacks that write to a stream or channel.
 *
 * @param <T> what it consumes
 */
@FunctionalInterface
public interface IoConsumer<T> {
    /**
     * Consumes {@code value}.
     *
     * @param value the value
     * @throws IOException when writing fails
     */
    void accept(T value) throws IOException;
}
