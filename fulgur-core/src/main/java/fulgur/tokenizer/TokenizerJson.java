package fulgur.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import fulgur.io.MalformedFileException;
import java.nio.file.Path;
import java.util.regex.Pattern;

/** Parsing context for a tokenizer.json: field accessors whose errors name the file and the field. */
final class TokenizerJson {

    final Path file;

    TokenizerJson(Path file) {
        this.file = file;
    }

    MalformedFileException malformed(String problem) {
        return new MalformedFileException(file, problem);
    }

    MalformedFileException unsupported(String feature, String supported) {
        return new MalformedFileException(file, "unsupported " + feature + " (supported: " + supported + ")");
    }

    String type(JsonNode node, String what) throws MalformedFileException {
        if (!node.isObject()) {
            throw malformed("\"" + what + "\" must be an object, found " + node.getNodeType());
        }
        JsonNode t = node.get("type");
        if (t == null || !t.isTextual()) {
            throw malformed("\"" + what + "\" has no \"type\" string");
        }
        return t.asText();
    }

    String string(JsonNode node, String field, String what) throws MalformedFileException {
        JsonNode v = node.get(field);
        if (v == null || !v.isTextual()) {
            throw malformed(what + ": field \"" + field + "\" must be a string, found "
                    + (v == null ? "nothing" : v.getNodeType().toString()));
        }
        return v.asText();
    }

    JsonNode array(JsonNode node, String field, String what) throws MalformedFileException {
        JsonNode v = node.get(field);
        if (v == null || !v.isArray()) {
            throw malformed(what + ": field \"" + field + "\" must be an array");
        }
        return v;
    }

    /** A Hugging Face pattern: {@code {"String": literal}} or {@code {"Regex": oniguruma}}. */
    Pattern pattern(JsonNode node, String what) throws MalformedFileException {
        if (node == null || !node.isObject()) {
            throw malformed(what + ": \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}, found " + node);
        }
        if (node.hasNonNull("String")) {
            return Pattern.compile(Pattern.quote(node.get("String").asText()));
        }
        if (node.hasNonNull("Regex")) {
            try {
                return OnigRegex.compile(node.get("Regex").asText(), what);
            } catch (IllegalArgumentException e) {
                throw new MalformedFileException(file, e.getMessage(), e);
            }
        }
        throw malformed(what + ": \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}, found " + node);
    }
}
