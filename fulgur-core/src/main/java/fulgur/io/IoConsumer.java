package fulgur.io;

import java.io.IOException;

/** A consumer that may throw {@link IOException}, for callbacks that write to a stream or channel. */
@FunctionalInterface
public interface IoConsumer<T> {
    void accept(T value) throws IOException;
}
