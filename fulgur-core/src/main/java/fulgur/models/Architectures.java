package fulgur.models;

import com.fasterxml.jackson.databind.JsonNode;
import fulgur.io.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.ServiceLoader;
import java.util.stream.Collectors;

/**
 * The registry of model architectures: by {@code --model} name, or by a config.json's {@code model_type}. Each
 * architecture is an {@link Architecture} service listed in {@code META-INF/services/fulgur.models.Architecture} (in
 * the order names are shown), so adding a model never edits this class.
 */
public final class Architectures {

    private static final List<Architecture> ALL = ServiceLoader.load(Architecture.class, Architectures.class.getClassLoader()).stream()
            .map(ServiceLoader.Provider::get).toList();

    private Architectures() {}

    public static List<Architecture> all() {
        return ALL;
    }

    /** Comma-separated names, for help texts and errors. */
    public static String names() {
        return ALL.stream().map(Architecture::name).collect(Collectors.joining(", "));
    }

    public static Architecture byName(String name) {
        for (Architecture a : ALL) {
            if (a.name().equalsIgnoreCase(name)) {
                return a;
            }
        }
        throw new IllegalArgumentException("unknown model '" + name + "' (available: " + names() + ")");
    }

    /** The architecture of a config.json text, chosen by its {@code model_type} field. */
    public static Architecture forConfig(String configJson) {
        String type = modelType(configJson);
        for (Architecture a : ALL) {
            if (a.modelTypes().contains(type)) {
                return a;
            }
        }
        throw new IllegalArgumentException("config.json has model_type '" + type + "', which no architecture reads (known: "
                + ALL.stream().flatMap(a -> a.modelTypes().stream()).collect(Collectors.joining(", ")) + ")");
    }

    /** Reads a config.json and builds its model. */
    public static LanguageModel build(Path configFile, long seed) {
        String json = read(configFile);
        try {
            return forConfig(json).build(json, seed);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(configFile + ": " + e.getMessage(), e);
        }
    }

    public static String read(Path configFile) {
        try {
            return Files.readString(configFile);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read model config " + configFile + ": " + e.getMessage(), e);
        }
    }

    static String modelType(String configJson) {
        JsonNode n;
        try {
            n = Json.mapper().readTree(configJson);
        } catch (IOException e) {
            throw new IllegalArgumentException("malformed config.json: " + e.getMessage(), e);
        }
        if (n == null || !n.isObject()) {
            throw new IllegalArgumentException("config.json is not a JSON object");
        }
        JsonNode t = n.get("model_type");
        if (t == null || !t.isTextual()) {
            throw new IllegalArgumentException("config.json has no \"model_type\" string field");
        }
        return t.asText();
    }
}
