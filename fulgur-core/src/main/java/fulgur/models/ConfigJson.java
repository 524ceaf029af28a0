package fulgur.models;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.type.LogicalType;
import java.io.IOException;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Reading and writing the architectures' config.json records (indented, as Hugging Face writes them). Reading is
 * strict about values: an integer field takes only an integer in range (not 32.5, "32" or 3e9), a duplicated key is
 * an error; fields the record does not know are ignored (reference configs carry many).
 */
public final class ConfigJson {
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
            .withCoercionConfig(LogicalType.Integer, ConfigJson::noText)
            .withCoercionConfig(LogicalType.Float, ConfigJson::noText)
            .withCoercionConfig(LogicalType.Boolean, ConfigJson::noText)
            .build();

    private ConfigJson() {}

    /** Text is not a number or a flag: "32" and "" are refused where a number or boolean is expected. */
    private static void noText(com.fasterxml.jackson.databind.cfg.MutableCoercionConfig c) {
        c.setCoercion(CoercionInputShape.String, CoercionAction.Fail)
                .setCoercion(CoercionInputShape.EmptyString, CoercionAction.Fail);
    }

    /**
     * The record of {@code type} in {@code json}; malformed JSON is an error naming {@code what} ("HGRN2").
     *
     * @param <T> the record type
     * @param json the config.json text
     * @param type the record class
     * @param what the model's name, for errors
     * @return the record
     * @throws IllegalArgumentException for malformed JSON, an unknown field or a value of the wrong type
     */
    public static <T> T parse(String json, Class<T> type, String what) {
        try {
            return JSON.readValue(json, type);
        } catch (IOException e) {
            throw new IllegalArgumentException("malformed " + what + " config: " + describe(e), e);
        }
    }

    /**
     * The same, with {@code defaults} (the reference implementation's defaults) taken for fields that {@code json}
     * lacks or sets to null: a config.json that omits a field gets what the reference code would use, not 0. The
     * values it does carry are read as strictly as by {@link #parse(String, Class, String)}.
     *
     * @param <T> the record type
     * @param json the config.json text
     * @param type the record class
     * @param what the model's name, for errors
     * @param defaults values by JSON field name for absent or null fields
     * @return the record
     * @throws IllegalArgumentException for malformed JSON, an unknown field or a value of the wrong type
     */
    public static <T> T parse(String json, Class<T> type, String what, Map<String, Object> defaults) {
        try {
            JsonNode n = JSON.readTree(json);
            if (!(n instanceof ObjectNode o)) {
                return parse(json, type, what);
            }
            defaults.forEach((field, value) -> {
                if (!o.hasNonNull(field)) {
                    o.set(field, JSON.valueToTree(value));
                }
            });
            return JSON.treeToValue(o, type);
        } catch (IOException e) {
            throw new IllegalArgumentException("malformed " + what + " config: " + describe(e), e);
        }
    }

    /**
     * The config record as JSON text (its JSON field names).
     *
     * @param config the record
     * @return the JSON
     */
    public static String write(Object config) {
        try {
            return JSON.writeValueAsString(config);
        } catch (IOException e) {
            throw new IllegalStateException("cannot write " + config.getClass().getSimpleName() + " as JSON", e);
        }
    }

    /** Jackson's message in one line: the field path and what was wrong, without the source dump. */
    static String describe(IOException e) {
        String msg =
                e instanceof com.fasterxml.jackson.core.JacksonException j ? j.getOriginalMessage() : e.getMessage();
        msg = msg == null ? e.toString() : msg.lines().findFirst().orElse("");
        int cut = msg.indexOf(" (but ");
        if (cut > 0) {
            msg = msg.substring(0, cut);
        }
        if (e instanceof JsonMappingException m && !m.getPath().isEmpty()) {
            String path = m.getPath().stream()
                    .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                    .collect(Collectors.joining("."))
                    .replace(".[", "[");
            msg = "field \"" + path + "\": " + msg;
        }
        return msg;
    }
}
