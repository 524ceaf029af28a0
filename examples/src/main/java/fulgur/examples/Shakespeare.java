package fulgur.examples;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/** The text the examples train on: the first 60 KB of the tiny-shakespeare corpus, shipped in this module's jar. */
public final class Shakespeare {
    private Shakespeare() {}

    /** The excerpt as one string. */
    public static String excerpt() {
        try (InputStream in = Shakespeare.class.getResourceAsStream("shakespeare.txt")) {
            if (in == null) {
                throw new IllegalStateException("shakespeare.txt is missing from the class path");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
