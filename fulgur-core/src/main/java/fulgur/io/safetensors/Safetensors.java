package fulgur.io.safetensors;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.Set;

/**
 * A read-only view of named tensors stored in safetensors form: one file ({@link SafetensorsFile}) or the shards of a
 * checkpoint ({@link ShardedSafetensors}). Entries' data are slices of memory-mapped files and stay valid until the
 * view is closed.
 */
public interface Safetensors extends AutoCloseable {

    /** The name of a sharded checkpoint's index file. */
    String INDEX_FILE = "model.safetensors.index.json";
    /** The name of a single-file checkpoint. */
    String SINGLE_FILE = "model.safetensors";

    /**
     * Opens {@code path}: a {@code .safetensors} file, a {@code *.index.json} shard index, or a directory holding
     * either {@value #INDEX_FILE} or {@value #SINGLE_FILE}.
     *
     * @param path a file, index or directory
     * @return the tensors, to close
     * @throws java.io.IOException when a file cannot be read or is malformed, or the directory holds neither
     */
    static Safetensors open(Path path) throws IOException {
        if (Files.isDirectory(path)) {
            Path index = path.resolve(INDEX_FILE);
            if (Files.isRegularFile(index)) {
                return ShardedSafetensors.open(index);
            }
            Path single = path.resolve(SINGLE_FILE);
            if (Files.isRegularFile(single)) {
                return SafetensorsFile.open(single);
            }
            throw new NoSuchFileException(
                    path.toString(), null, "directory holds neither " + INDEX_FILE + " nor " + SINGLE_FILE);
        }
        if (path.getFileName() != null && path.getFileName().toString().endsWith(".json")) {
            return ShardedSafetensors.open(path);
        }
        return SafetensorsFile.open(path);
    }

    /**
     * All tensors, in file order (shard by shard for a sharded checkpoint).
     *
     * @return the entries
     */
    List<SafetensorsEntry> entries();

    /**
     * The tensor names, in the order of {@link #entries()}.
     *
     * @return the names
     */
    Set<String> names();

    /**
     * The tensor named {@code name}, if present.
     *
     * @param name the tensor's name
     * @return the entry, or empty
     */
    Optional<SafetensorsEntry> find(String name);

    /**
     * The free-form string metadata ({@code __metadata__}, or the index's {@code metadata}).
     *
     * @return the metadata
     */
    Map<String, String> metadata();

    /**
     * Whether a tensor named {@code name} is present.
     *
     * @param name the tensor's name
     * @return true when present
     */
    default boolean contains(String name) {
        return find(name).isPresent();
    }

    /**
     * The tensor named {@code name}; throws, naming the missing tensor and where it was looked for, if absent.
     *
     * @param name the tensor's name
     * @return the entry
     * @throws java.util.NoSuchElementException when absent
     */
    default SafetensorsEntry get(String name) {
        return find(name)
                .orElseThrow(() -> new NoSuchElementException(
                        describe() + ": no tensor named \"" + name + "\" (it holds " + names().size() + " tensors"
                                + (names().isEmpty()
                                        ? ""
                                        : ", e.g. \"" + names().iterator().next() + "\"") + ")"));
    }

    /**
     * Where the tensors come from, for messages.
     *
     * @return the description
     */
    String describe();

    /** Unmaps the files (if this view owns its memory); entries' data become inaccessible. */
    @Override
    void close();
}
