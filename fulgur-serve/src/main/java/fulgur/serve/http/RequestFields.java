package fulgur.serve.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeType;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * The fields of a JSON request object, read with the checks and error messages of the OpenAI API: a wrong type or a
 * value out of range is a 400 naming the field, JSON {@code null} counts as absent.
 */
final class RequestFields {
    private final JsonNode body;

    RequestFields(JsonNode body) {
        if (body == null || !body.isObject()) {
            throw ApiException.invalid(
                    null, "invalid_type", "The request body must be a JSON object, got " + kind(body) + ".");
        }
        this.body = body;
    }

    /** Unknown fields are refused (a misspelt field would otherwise be silently ignored), like the OpenAI API does. */
    void allowOnly(Set<String> known) {
        for (Iterator<String> it = body.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!known.contains(f)) {
                throw ApiException.invalid(f, "unknown_parameter", "Unrecognized request argument supplied: " + f);
            }
        }
    }

    /** Fields this server does not implement: accepted only absent or at their neutral value. */
    void refuseUnsupported(Map<String, Predicate<JsonNode>> neutral) {
        neutral.forEach((name, isNeutral) -> {
            JsonNode v = get(name);
            if (v != null && !isNeutral.test(v)) {
                throw ApiException.invalid(
                        name, "unsupported_parameter", "'" + name + "' is not supported by this server.");
            }
        });
    }

    JsonNode get(String name) {
        JsonNode v = body.get(name);
        return v == null || v.isNull() ? null : v;
    }

    String requiredString(String name) {
        String s = string(name);
        if (s == null) {
            throw ApiException.invalid(
                    name, "missing_required_parameter", "Missing required parameter: '" + name + "'.");
        }
        return s;
    }

    String string(String name) {
        JsonNode v = get(name);
        if (v == null) {
            return null;
        }
        if (!v.isTextual()) {
            throw ApiException.invalidType(name, "a string", kind(v));
        }
        return v.textValue();
    }

    Boolean bool(String name) {
        JsonNode v = get(name);
        if (v == null) {
            return null;
        }
        if (!v.isBoolean()) {
            throw ApiException.invalidType(name, "a boolean", kind(v));
        }
        return v.booleanValue();
    }

    /** An integer in [min, max], or null when absent. */
    Long integer(String name, long min, long max) {
        JsonNode v = get(name);
        if (v == null) {
            return null;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw ApiException.invalidType(name, "an integer", kind(v));
        }
        long x = v.longValue();
        if (x < min) {
            throw ApiException.invalidValue(name, "expected a value >= " + min + ", but got " + x + " instead.");
        }
        if (x > max) {
            throw ApiException.invalidValue(name, "expected a value <= " + max + ", but got " + x + " instead.");
        }
        return x;
    }

    /** A number in [min, max] (or (min, max] when {@code openMin}), or {@code fallback} when absent. */
    double number(String name, double min, boolean openMin, double max, double fallback) {
        JsonNode v = get(name);
        if (v == null) {
            return fallback;
        }
        if (!v.isNumber()) {
            throw ApiException.invalidType(name, "a number", kind(v));
        }
        double x = v.doubleValue();
        if (openMin ? !(x > min) : !(x >= min)) {
            throw ApiException.invalidValue(
                    name,
                    "expected a value " + (openMin ? "> " : ">= ") + plain(min) + ", but got " + v.asText()
                            + " instead.");
        }
        if (!(x <= max)) {
            throw ApiException.invalidValue(
                    name, "expected a value <= " + plain(max) + ", but got " + v.asText() + " instead.");
        }
        return x;
    }

    /** A string or an array of at most {@code maxItems} non-empty strings (as OpenAI's {@code stop}). */
    List<String> stringOrList(String name, int maxItems) {
        JsonNode v = get(name);
        List<String> out = new ArrayList<>();
        if (v == null) {
            return out;
        }
        if (v.isTextual()) {
            out.add(v.textValue());
        } else if (v.isArray()) {
            if (v.size() > maxItems) {
                throw ApiException.invalidValue(
                        name,
                        "array too long. Expected an array with maximum length " + maxItems
                                + ", but got an array with length " + v.size() + " instead.");
            }
            for (int i = 0; i < v.size(); i++) {
                if (!v.get(i).isTextual()) {
                    throw ApiException.invalidType(name + "[" + i + "]", "a string", kind(v.get(i)));
                }
                out.add(v.get(i).textValue());
            }
        } else {
            throw ApiException.invalidType(name, "a string or an array of strings", kind(v));
        }
        for (String s : out) {
            if (s.isEmpty()) {
                throw ApiException.invalidValue(name, "stop strings must not be empty.");
            }
        }
        return out;
    }

    /** How the OpenAI API names the JSON type of a value in its errors. */
    static String kind(JsonNode v) {
        if (v == null || v.isNull() || v.isMissingNode()) {
            return "null";
        }
        JsonNodeType t = v.getNodeType();
        return switch (t) {
            case STRING -> "a string";
            case BOOLEAN -> "a boolean";
            case NUMBER -> v.isIntegralNumber() ? "an integer" : "a decimal";
            case ARRAY -> "an array";
            case OBJECT -> "an object";
            default -> t.name().toLowerCase(java.util.Locale.ROOT);
        };
    }

    private static String plain(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
    }
}
