package fulgur.io;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * The one shared Jackson {@link ObjectMapper} of fulgur and small helpers around it. Duplicate keys in an object are
 * an error (they would otherwise silently keep the last value); unknown properties are tolerated when binding.
 * Read errors become {@link MalformedFileException}s that name the file and the line and column.
 */
public final class Json {

    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS)
            .build();

    private Json() {}

    /**
     * The shared mapper (thread-safe; do not reconfigure it).
     *
     * @return the mapper
     */
    public static ObjectMapper mapper() {
        return MAPPER;
    }

    /**
     * Parses a JSON file into a tree.
     *
     * @param file the file
     * @return the tree
     * @throws java.io.IOException when the file is missing, empty or not valid JSON (a {@link MalformedFileException}
     *     naming line and column)
     */
    public static JsonNode read(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            JsonNode node = MAPPER.readTree(in);
            if (node == null || node.isMissingNode()) {
                throw new MalformedFileException(file, "empty file, expected a JSON document");
            }
            return node;
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(file.toString(), null, "file not found");
        } catch (JacksonException e) {
            throw malformed(file, e);
        }
    }

    /**
     * Reads a JSON file and binds it to {@code type} (a record or bean).
     *
     * @param <T> the type
     * @param file the file
     * @param type its class
     * @return the value
     * @throws java.io.IOException when the file cannot be read or does not fit {@code type}
     */
    public static <T> T read(Path file, Class<T> type) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return MAPPER.readValue(in, type);
        } catch (JacksonException e) {
            throw malformed(file, e);
        }
    }

    /**
     * Parses JSON text into a tree; {@code what} names the source in error messages.
     *
     * @param text the JSON text
     * @param what the source, for errors
     * @return the tree
     * @throws IllegalArgumentException when the text is not valid JSON
     */
    public static JsonNode parse(String text, String what) {
        try {
            return MAPPER.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(what + ": invalid JSON: " + describe(e), e);
        }
    }

    /**
     * Binds JSON text to {@code type}; {@code what} names the source in error messages.
     *
     * @param <T> the type
     * @param text the JSON text
     * @param type its class
     * @param what the source, for errors
     * @return the value
     * @throws IllegalArgumentException when the text is not valid JSON or does not fit {@code type}
     */
    public static <T> T parse(String text, Class<T> type, String what) {
        try {
            return MAPPER.readValue(text, type);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(
                    what + ": invalid JSON for " + type.getSimpleName() + ": " + describe(e), e);
        }
    }

    /**
     * Serializes a value (pretty-printed).
     *
     * @param value the value
     * @return the JSON text
     * @throws IllegalArgumentException when the value cannot be serialized
     */
    public static String toJson(Object value) {
        try {
            return MAPPER.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(
                    "cannot serialize " + value.getClass().getName() + " to JSON: " + e.getOriginalMessage(), e);
        }
    }

    /**
     * Writes a value as pretty-printed JSON, atomically.
     *
     * @param file the file to replace or create
     * @param value the value
     * @throws java.io.IOException when writing fails
     */
    public static void write(Path file, Object value) throws IOException {
        AtomicFiles.writeString(file, toJson(value) + "\n");
    }

    /**
     * A {@link MalformedFileException} for a Jackson failure, naming the line and column.
     *
     * @param file the file
     * @param e the failure
     * @return the exception
     */
    public static MalformedFileException malformed(Path file, JacksonException e) {
        return new MalformedFileException(file, "invalid JSON: " + describe(e), e);
    }

    /**
     * Jackson's message without the source dump, plus the line and column when known.
     *
     * @param e the failure
     * @return the message
     */
    public static String describe(JacksonException e) {
        String msg = e.getOriginalMessage();
        JsonLocation loc = e.getLocation();
        if (loc != null && loc.getLineNr() > 0) {
            msg += " (line " + loc.getLineNr() + ", column " + loc.getColumnNr() + ")";
        }
        return msg;
    }
}
