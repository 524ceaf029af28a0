package fulgur.io.safetensors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import fulgur.io.AtomicFiles;
import fulgur.io.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Writes safetensors files atomically. Tensors are stored in the order given, contiguously; the JSON header lists
 * {@code __metadata__} first, then the tensors in that order, and is padded with spaces to a multiple of 8 bytes as
 * the reference implementation does (so the data section starts 8-byte aligned). Data are the entries' raw bytes,
 * which must already be little-endian.
 *
 * <p>Hugging Face {@code transformers} only loads files whose metadata has {@code "format": "pt"}; pass
 * {@link #PT_METADATA} (or include that key) when the file is meant for it.
 */
public final class SafetensorsWriter {

    /** The metadata Hugging Face {@code transformers} expects of a PyTorch checkpoint. */
    public static final Map<String, String> PT_METADATA = Map.of("format", "pt");

    private static final int STAGING_BYTES = 1 << 20;

    private final List<SafetensorsEntry> tensors = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    /** An empty writer to fill with {@link #add} and {@link #metadata}. */
    public SafetensorsWriter() {}

    /**
     * Adds a tensor whose bytes are in {@code data} (little-endian).
     *
     * @param name the tensor's name
     * @param dtype the header's dtype name
     * @param shape the dimensions
     * @param data the raw bytes
     * @return this writer
     * @throws IllegalArgumentException when the entry is invalid
     */
    public SafetensorsWriter add(String name, String dtype, long[] shape, MemorySegment data) {
        tensors.add(new SafetensorsEntry(name, dtype, shape, data));
        return this;
    }

    /**
     * Adds a tensor whose bytes are {@code data} (little-endian, not copied).
     *
     * @param name the tensor's name
     * @param dtype the header's dtype name
     * @param shape the dimensions
     * @param data the raw bytes
     * @return this writer
     * @throws IllegalArgumentException when the entry is invalid
     */
    public SafetensorsWriter add(String name, String dtype, long[] shape, byte[] data) {
        tensors.add(SafetensorsEntry.of(name, dtype, shape, data));
        return this;
    }

    /**
     * Adds a prepared entry.
     *
     * @param entry the entry
     * @return this writer
     */
    public SafetensorsWriter add(SafetensorsEntry entry) {
        tensors.add(Objects.requireNonNull(entry, "entry"));
        return this;
    }

    /**
     * Sets a metadata string.
     *
     * @param key the key
     * @param value the value
     * @return this writer
     */
    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
        return this;
    }

    /**
     * Writes what was added to {@code file}, atomically.
     *
     * @param file the file to replace or create
     * @throws java.io.IOException when writing fails
     * @throws IllegalArgumentException for an empty, repeated or reserved name
     */
    public void write(Path file) throws IOException {
        write(file, tensors, metadata);
    }

    /**
     * Writes {@code tensors} with no metadata.
     *
     * @param file the file to replace or create
     * @param tensors the tensors, in order
     * @throws java.io.IOException when writing fails
     * @throws IllegalArgumentException for an empty, repeated or reserved name
     */
    public static void write(Path file, List<SafetensorsEntry> tensors) throws IOException {
        write(file, tensors, Map.of());
    }

    /**
     * Writes {@code tensors} (in order) and {@code metadata} to {@code file}, atomically.
     *
     * @param file the file to replace or create
     * @param tensors the tensors, in order
     * @param metadata the metadata strings
     * @throws java.io.IOException when writing fails
     * @throws IllegalArgumentException for an empty, repeated or reserved name
     */
    public static void write(Path file, List<SafetensorsEntry> tensors, Map<String, String> metadata)
            throws IOException {
        byte[] header = header(tensors, metadata);
        AtomicFiles.writeChannel(file, ch -> {
            AtomicFiles.writeFully(ch, ByteBuffer.wrap(header));
            ByteBuffer staging = ByteBuffer.allocateDirect(STAGING_BYTES);
            for (SafetensorsEntry e : tensors) {
                writeSegment(ch, e.data(), staging);
            }
        });
    }

    /**
     * Writes {@code tensors} into shards of at most {@code maxShardBytes} data bytes each (a tensor larger than that
     * gets a shard of its own) named {@code model-00001-of-0000N.safetensors}, plus {@value Safetensors#INDEX_FILE}
     * with {@code metadata.total_size} and the {@code weight_map}, as Hugging Face does. Each shard carries
     * {@code metadata}. A single shard is still written with an index. Returns the shard files.
     *
     * @param dir the directory, created if absent
     * @param tensors the tensors, in order
     * @param metadata the metadata strings
     * @param maxShardBytes the most data bytes per shard, &gt; 0
     * @return the files written, shards then index
     * @throws java.io.IOException when writing fails
     * @throws IllegalArgumentException when maxShardBytes is not positive, or for an empty, repeated or reserved name
     */
    public static List<Path> writeSharded(
            Path dir, List<SafetensorsEntry> tensors, Map<String, String> metadata, long maxShardBytes)
            throws IOException {
        if (maxShardBytes <= 0) {
            throw new IllegalArgumentException("maxShardBytes must be positive, got " + maxShardBytes);
        }
        checkNames(tensors);
        List<List<SafetensorsEntry>> groups = new ArrayList<>();
        List<SafetensorsEntry> current = new ArrayList<>();
        long currentBytes = 0;
        long total = 0;
        for (SafetensorsEntry e : tensors) {
            if (!current.isEmpty() && currentBytes + e.byteSize() > maxShardBytes) {
                groups.add(current);
                current = new ArrayList<>();
                currentBytes = 0;
            }
            current.add(e);
            currentBytes += e.byteSize();
            total += e.byteSize();
        }
        if (!current.isEmpty() || groups.isEmpty()) {
            groups.add(current);
        }
        Files.createDirectories(dir);
        List<Path> files = new ArrayList<>();
        ObjectNode index = Json.mapper().createObjectNode();
        ObjectNode meta = index.putObject("metadata");
        meta.put("total_size", total);
        ObjectNode weightMap = index.putObject("weight_map");
        for (int g = 0; g < groups.size(); g++) {
            String name = String.format("model-%05d-of-%05d.safetensors", g + 1, groups.size());
            Path shard = dir.resolve(name);
            write(shard, groups.get(g), metadata);
            files.add(shard);
            for (SafetensorsEntry e : groups.get(g)) {
                weightMap.put(e.name(), name);
            }
        }
        Json.write(dir.resolve(Safetensors.INDEX_FILE), index);
        return files;
    }

    /**
     * The bytes that precede the data: the 8-byte little-endian length and the space-padded JSON header. Validates
     * names (non-empty, unique, not {@code __metadata__}).
     *
     * @param tensors the tensors, in order
     * @param metadata the metadata strings
     * @return the bytes
     * @throws IllegalArgumentException for an empty, repeated or reserved name
     */
    public static byte[] header(List<SafetensorsEntry> tensors, Map<String, String> metadata) {
        checkNames(tensors);
        ObjectNode root = Json.mapper().createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = root.putObject(SafetensorsFile.METADATA_KEY);
            metadata.forEach((k, v) -> m.put(
                    Objects.requireNonNull(k, "metadata key"),
                    Objects.requireNonNull(v, () -> "metadata value for " + k)));
        }
        long offset = 0;
        for (SafetensorsEntry e : tensors) {
            ObjectNode t = root.putObject(e.name());
            t.put("dtype", e.dtype());
            ArrayNode shape = t.putArray("shape");
            for (long d : e.shape()) {
                shape.add(d);
            }
            ArrayNode offsets = t.putArray("data_offsets");
            offsets.add(offset);
            offset += e.byteSize();
            offsets.add(offset);
        }
        byte[] json;
        try {
            json = Json.mapper()
                    .writer()
                    .without(SerializationFeature.INDENT_OUTPUT)
                    .writeValueAsString(root)
                    .getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
        int padded = (json.length + 7) & ~7;
        ByteBuffer out = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded).put(json);
        while (out.hasRemaining()) {
            out.put((byte) ' ');
        }
        return out.array();
    }

    private static void checkNames(List<SafetensorsEntry> tensors) {
        Set<String> seen = new HashSet<>();
        for (SafetensorsEntry e : tensors) {
            Objects.requireNonNull(e, "tensor entry");
            if (e.name().equals(SafetensorsFile.METADATA_KEY)) {
                throw new IllegalArgumentException("a tensor cannot be named \"" + SafetensorsFile.METADATA_KEY
                        + "\", the key is reserved for metadata");
            }
            if (!seen.add(e.name())) {
                throw new IllegalArgumentException("duplicate tensor name \"" + e.name() + "\"");
            }
        }
    }

    private static void writeSegment(WritableByteChannel ch, MemorySegment data, ByteBuffer staging)
            throws IOException {
        MemorySegment stage = MemorySegment.ofBuffer(staging.clear());
        long size = data.byteSize();
        for (long pos = 0; pos < size; ) {
            int n = (int) Math.min(staging.capacity(), size - pos);
            MemorySegment.copy(data, pos, stage, 0, n);
            staging.clear().limit(n);
            AtomicFiles.writeFully(ch, staging);
            pos += n;
        }
    }
}
