package fulgur.eval;

import com.fasterxml.jackson.databind.JsonNode;
import fulgur.io.Json;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * The text of a file as a stream of pieces, read lazily so a file of any size takes constant memory: JSON Lines
 * ({@code .jsonl}/{@code .ndjson}) give one document per line (a string field, {@code "text"}), plain text gives
 * blocks of whole lines of about {@code blockChars} characters that together are the file.
 */
public final class Documents implements Iterator<Documents.Piece>, AutoCloseable {

    /**
     * A piece of text; {@code startsDocument} is true for each JSONL record (and the first block of a text file).
     *
     * @param text the text
     * @param startsDocument whether a document starts with it
     */
    public record Piece(String text, boolean startsDocument) {}

    private final Path file;
    private final BufferedReader in;
    private final boolean jsonl;
    private final String field;
    private final int blockChars;
    private Piece next;
    private long line;
    private boolean first = true;

    private Documents(Path file, boolean jsonl, String field, int blockChars) throws IOException {
        this.file = file;
        this.in = Files.newBufferedReader(file, StandardCharsets.UTF_8);
        this.jsonl = jsonl;
        this.field = field;
        this.blockChars = blockChars;
    }

    /**
     * Opens {@code file}, JSON Lines by its extension, else text.
     *
     * @param file a {@code .jsonl}/{@code .ndjson} file or a text file
     * @param field the JSON field holding the text of each record
     * @param blockChars the characters per piece of a text file
     * @return the documents, to close after reading
     * @throws IOException when the file cannot be opened
     * @throws IllegalArgumentException when there is no such file
     */
    public static Documents open(Path file, String field, int blockChars) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("--data: no such file: " + file);
        }
        String name = file.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        return new Documents(file, name.endsWith(".jsonl") || name.endsWith(".ndjson"), field, blockChars);
    }

    @Override
    public boolean hasNext() {
        if (next == null) {
            try {
                next = jsonl ? readRecord() : readBlock();
            } catch (IOException e) {
                throw new UncheckedIOException(file + ": " + e.getMessage(), e);
            }
        }
        return next != null;
    }

    @Override
    public Piece next() {
        if (!hasNext()) {
            throw new NoSuchElementException();
        }
        Piece p = next;
        next = null;
        return p;
    }

    private Piece readRecord() throws IOException {
        String l;
        while ((l = in.readLine()) != null) {
            line++;
            if (l.isBlank()) {
                continue;
            }
            JsonNode n;
            try {
                n = Json.mapper().readTree(l);
            } catch (IOException e) {
                throw new IllegalArgumentException(file + ":" + line + ": not a JSON object");
            }
            JsonNode t = n.get(field);
            if (t == null || !t.isTextual()) {
                throw new IllegalArgumentException(file + ":" + line + ": no string field \"" + field + "\"");
            }
            return new Piece(t.asText(), true);
        }
        return null;
    }

    private String carry = "";

    private Piece readBlock() throws IOException {
        StringBuilder b = new StringBuilder(carry);
        carry = "";
        char[] buf = new char[8192];
        boolean eof = false;
        while (b.length() < blockChars) {
            int n = in.read(buf, 0, Math.min(buf.length, blockChars - b.length()));
            if (n < 0) {
                eof = true;
                break;
            }
            b.append(buf, 0, n);
        }
        if (b.isEmpty()) {
            return null;
        }
        String text = b.toString();
        if (!eof) {
            // end the block after its last newline so no line is split (the rest starts the next block)
            int cut = text.lastIndexOf('\n');
            if (cut >= 0 && cut + 1 < text.length()) {
                carry = text.substring(cut + 1);
                text = text.substring(0, cut + 1);
            }
        }
        Piece p = new Piece(text, first);
        first = false;
        return p;
    }

    @Override
    public void close() throws IOException {
        in.close();
    }
}
