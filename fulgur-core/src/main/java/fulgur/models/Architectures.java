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

    private static final List<Architecture> ALL =
            ServiceLoader.load(Architecture.class, Architectures.class.getClassLoader()).stream()
                    .map(ServiceLoader.Provider::get)
                    .toList();

    private Architectures() {}

    /** {@return every architecture of the zoo, in a fixed order} */
    public static List<Architecture> all() {
        return ALL;
    }

    /**
     * Comma-separated names, for help texts and errors.
     *
     * @return the names
     */
    public static String names() {
        return ALL.stream().map(Architecture::name).collect(Collectors.joining(", "));
    }

    /**
     * The architecture named {@code name}.
     *
     * @param name a {@code --model} name, any case
     * @return the architecture
     * @throws IllegalArgumentException for an unknown name, listing the known ones
     */
    public static Architecture byName(String name) {
        for (Architecture a : ALL) {
            if (a.name().equalsIgnoreCase(name)) {
                return a;
            }
        }
        throw new IllegalArgumentException("unknown model '" + name + "' (available: " + names() + ")");
    }

    /**
     * The architecture of a config.json text, chosen by its {@code model_type} field.
     *
     * @param configJson the config.json text
     * @return the architecture
     * @throws IllegalArgumentException when the text is malformed or no architecture reads its model_type
     */
    public static Architecture forConfig(String configJson) {
        String type = modelType(configJson);
        for (Architecture a : ALL) {
            if (a.modelTypes().contains(type)) {
                return a;
            }
        }
        throw new IllegalArgumentException(
                "config.json has model_type '" + type + "', which no architecture reads (known: "
                        + ALL.stream().flatMap(a -> a.modelTypes().stream()).collect(Collectors.joining(", ")) + ")");
    }

    /**
     * Reads a config.json and builds its model.
     *
     * @param configFile the config.json file
     * @param seed the seed of the initial weights
     * @return the model
     * @throws IllegalArgumentException when the file cannot be read or the config is bad, naming the file
     */
    public static LanguageModel build(Path configFile, long seed) {
        String json = read(configFile);
        try {
            return forConfig(json).build(json, seed);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(configFile + ": " + e.getMessage(), e);
        }
    }

    /**
     * Reads a config.json file.
     *
     * @param configFile the file
     * @return its text
     * @throws IllegalArgumentException when it cannot be read
     */
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
