package fulgur.io.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import fulgur.io.Json;
import fulgur.io.MalformedFileException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A sharded checkpoint seen as one set of tensors: a {@value Safetensors#INDEX_FILE}
 * ({@code {"metadata": {...}, "weight_map": {tensor: shard file}}}) and the shard files next to it, all memory-mapped.
 * Opening checks that every shard exists (listing all that are missing), that each shard is a valid safetensors file,
 * that every tensor of the weight map is in the shard it is mapped to, and that no tensor is in two shards.
 */
public final class ShardedSafetensors implements Safetensors {

    private final Path index;
    private final Arena arena;
    private final List<SafetensorsFile> shards;
    private final List<SafetensorsEntry> entries;
    private final Map<String, SafetensorsEntry> byName;
    private final Map<String, String> metadata;

    private ShardedSafetensors(
            Path index,
            Arena arena,
            List<SafetensorsFile> shards,
            Map<String, SafetensorsEntry> byName,
            Map<String, String> metadata) {
        this.index = index;
        this.arena = arena;
        this.shards = List.copyOf(shards);
        this.byName = Collections.unmodifiableMap(byName);
        this.entries = List.copyOf(byName.values());
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    /**
     * Opens the index file {@code indexFile} and the shards it names (resolved against its directory).
     *
     * @param indexFile the index file
     * @return the tensors, to close
     * @throws java.io.IOException when a file cannot be read, or the index is malformed or names missing shards
     */
    public static ShardedSafetensors open(Path indexFile) throws IOException {
        JsonNode root = Json.read(indexFile);
        if (!root.isObject()) {
            throw new MalformedFileException(
                    indexFile, "expected a JSON object with \"weight_map\", found " + root.getNodeType());
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        JsonNode meta = root.get("metadata");
        if (meta != null && !meta.isNull()) {
            if (!meta.isObject()) {
                throw new MalformedFileException(
                        indexFile, "\"metadata\" must be an object, found " + meta.getNodeType());
            }
            for (Map.Entry<String, JsonNode> m : meta.properties()) {
                if (!m.getValue().isValueNode()) {
                    throw new MalformedFileException(
                            indexFile,
                            "\"metadata\" value for key \"" + m.getKey() + "\" must be a string or number, found "
                                    + m.getValue().getNodeType());
                }
                metadata.put(m.getKey(), m.getValue().asText());
            }
        }
        JsonNode wm = root.get("weight_map");
        if (wm == null || !wm.isObject()) {
            throw new MalformedFileException(indexFile, "missing \"weight_map\" object (tensor name -> shard file)");
        }
        Path dir = indexFile.toAbsolutePath().getParent();
        Map<String, String> weightMap = new LinkedHashMap<>();
        Map<String, Path> shardFiles = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : wm.properties()) {
            if (!e.getValue().isTextual()) {
                throw new MalformedFileException(
                        indexFile,
                        "weight_map entry \"" + e.getKey() + "\" must be a file name string, found "
                                + e.getValue().getNodeType());
            }
            String file = e.getValue().asText();
            Path resolved = dir.resolve(file).normalize();
            if (file.isEmpty() || Path.of(file).isAbsolute() || !resolved.startsWith(dir)) {
                throw new MalformedFileException(
                        indexFile,
                        "weight_map entry \"" + e.getKey() + "\" names shard \"" + file
                                + "\", expected a file name inside " + dir);
            }
            weightMap.put(e.getKey(), file);
            shardFiles.putIfAbsent(file, resolved);
        }
        List<String> missing = new ArrayList<>();
        for (Map.Entry<String, Path> s : shardFiles.entrySet()) {
            if (!Files.isRegularFile(s.getValue())) {
                missing.add(s.getKey());
            }
        }
        if (!missing.isEmpty()) {
            throw new MalformedFileException(
                    indexFile,
                    missing.size() + " of " + shardFiles.size() + " shard files are missing from " + dir + ": "
                            + String.join(", ", missing));
        }
        Arena arena = Arena.ofShared();
        try {
            List<SafetensorsFile> shards = new ArrayList<>();
            Map<String, SafetensorsFile> shardByFile = new LinkedHashMap<>();
            Map<String, SafetensorsEntry> byName = new LinkedHashMap<>();
            Map<String, String> fileOf = new LinkedHashMap<>();
            for (Map.Entry<String, Path> s : shardFiles.entrySet()) {
                SafetensorsFile shard = SafetensorsFile.open(s.getValue(), arena);
                shards.add(shard);
                shardByFile.put(s.getKey(), shard);
                for (SafetensorsEntry t : shard.entries()) {
                    String previous = fileOf.putIfAbsent(t.name(), s.getKey());
                    if (previous != null) {
                        throw new MalformedFileException(
                                indexFile,
                                "tensor \"" + t.name() + "\" is stored in two shards: " + previous + " and "
                                        + s.getKey());
                    }
                    byName.put(t.name(), t);
                }
            }
            for (Map.Entry<String, String> w : weightMap.entrySet()) {
                if (!shardByFile.get(w.getValue()).contains(w.getKey())) {
                    String actual = fileOf.get(w.getKey());
                    throw new MalformedFileException(
                            indexFile,
                            "weight_map puts tensor \"" + w.getKey() + "\" in " + w.getValue()
                                    + ", which does not contain it"
                                    + (actual == null ? "" : " (it is in " + actual + ")"));
                }
            }
            return new ShardedSafetensors(indexFile, arena, shards, byName, metadata);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /**
     * The index file.
     *
     * @return the file
     */
    public Path indexFile() {
        return index;
    }

    /**
     * The shards, in the order the weight map first names them.
     *
     * @return the shards
     */
    public List<SafetensorsFile> shards() {
        return shards;
    }

    @Override
    public List<SafetensorsEntry> entries() {
        return entries;
    }

    @Override
    public Set<String> names() {
        return byName.keySet();
    }

    @Override
    public Optional<SafetensorsEntry> find(String name) {
        return Optional.ofNullable(byName.get(name));
    }

    @Override
    public Map<String, String> metadata() {
        return metadata;
    }

    @Override
    public String describe() {
        return index.toString();
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
