package fulgur.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.util.Map;

/** Reading and writing the architectures' config.json records (indented, as Hugging Face writes them). */
public final class ConfigJson {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private ConfigJson() {}

    /** The record of {@code type} in {@code json}; malformed JSON is an error naming {@code what} ("HGRN2"). */
    public static <T> T parse(String json, Class<T> type, String what) {
        try {
            return JSON.readValue(json, type);
        } catch (IOException e) {
            throw new IllegalArgumentException("malformed " + what + " config: " + e.getMessage(), e);
        }
    }

    /**
     * The same, with {@code defaults} (the reference implementation's defaults) taken for fields that {@code json}
     * lacks or sets to null: a config.json that omits a field gets what the reference code would use, not 0.
     */
    public static <T> T parse(String json, Class<T> type, String what, Map<String, Object> defaults) {
        try {
            JsonNode n = JSON.readTree(json);
            if (n instanceof ObjectNode o) {
                defaults.forEach((field, value) -> {
                    if (!o.hasNonNull(field)) {
                        o.set(field, JSON.valueToTree(value));
                    }
                });
            }
            return JSON.treeToValue(n, type);
        } catch (IOException e) {
            throw new IllegalArgumentException("malformed " + what + " config: " + e.getMessage(), e);
        }
    }

    public static String write(Object config) {
        try {
            return JSON.writeValueAsString(config);
        } catch (IOException e) {
            throw new IllegalStateException("cannot write " + config.getClass().getSimpleName() + " as JSON", e);
        }
    }
}
