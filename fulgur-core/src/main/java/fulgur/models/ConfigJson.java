package fulgur.models;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;

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

    public static String write(Object config) {
        try {
            return JSON.writeValueAsString(config);
        } catch (IOException e) {
            throw new IllegalStateException("cannot write " + config.getClass().getSimpleName() + " as JSON", e);
        }
    }
}
