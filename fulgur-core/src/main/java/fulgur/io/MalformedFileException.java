package fulgur.io;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A file exists and could be read but its content is not what its format requires. The message starts with the
 * file's path and says what was wrong and what was expected.
 */
public class MalformedFileException extends IOException {

    private final transient Path file;

    public MalformedFileException(Path file, String problem) {
        super(file + ": " + problem);
        this.file = file;
    }

    public MalformedFileException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
    }

    /** The offending file. */
    public Path file() {
        return file;
    }
}
