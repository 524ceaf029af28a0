package fulgur.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * Turns on a device that two benchmarks share, so that they can alternate rounds in one run without measuring each
 * other: paced, a benchmark does its device work only between taking a turn and asking for the next one. It asks by
 * printing the line {@value #READY} and waits for any line on its input; the end of the input ends the run (the
 * coordinator, {@code scripts/gpu/serve_turns.py}, is out of time). Unpaced, every turn is granted at once.
 */
final class Turns {
    static final String READY = "ready";

    private final BufferedReader in;
    private final PrintStream out;

    Turns(BufferedReader in, PrintStream out) {
        this.in = in;
        this.out = out;
    }

    /** Every turn at once. */
    static Turns unpaced() {
        return new Turns(null, null);
    }

    /** Turns granted by lines on standard input (asked for on standard output). */
    static Turns fromStdin() {
        return new Turns(new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)), System.out);
    }

    /** Waits for the next turn; false when none will come (the run should end). */
    boolean next() {
        if (in == null) {
            return true;
        }
        out.println(READY);
        out.flush();
        try {
            return in.readLine() != null;
        } catch (IOException e) {
            throw new UncheckedIOException("reading the next turn", e);
        }
    }
}
