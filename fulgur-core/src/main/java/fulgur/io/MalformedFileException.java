package fulgur.io;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A file exists and could be read but its content is not what its format requires. The message starts with the
 * file's path and says what was wrong and what was expected.
 */
public class MalformedFileException extends IOException {

    private final transient Path file;

    /**
     * An error in {@code file}.
     *
     * @param file the file
     * @param problem what is wrong and what was expected
     */
    public MalformedFileException(Path file, String problem) {
        super(file + ": " + problem);
        this.file = file;
    }

    /**
     * An error in {@code file}, caused by {@code cause}.
     *
     * @param file the file
     * @param problem what is wrong and what was expected
     * @param cause the underlying failure
     */
    public MalformedFileException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
    }

    /**
     * The offending file.
     *
     * @return the file
     */
    public Path file() {
        return file;
    }
}
