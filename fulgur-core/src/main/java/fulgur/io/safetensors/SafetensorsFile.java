package fulgur.io.safetensors;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import fulgur.io.Json;
import fulgur.io.MalformedFileException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileChannel.MapMode;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A memory-mapped safetensors file: an 8-byte little-endian header length N, N bytes of JSON header
 * ({@code {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}}), then the data, with
 * offsets relative to the start of the data. Opening validates everything the reference implementation validates
 * (and says which tensor is at fault): header length within the file, valid UTF-8 JSON object, known dtypes,
 * non-negative shapes, offsets within the data, byte length equal to elements times dtype size, tensors packed
 * contiguously without overlap or gaps, no bytes after the last tensor, no duplicate names.
 */
public final class SafetensorsFile implements Safetensors {

    /** The reference implementation's limit on the header size. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    static final String METADATA_KEY = "__metadata__";

    /**
     * The header's parser: strict about duplicate names, and with string and name lengths bounded by the header's own
     * limit rather than Jackson's defaults (20 MB strings), which a valid header with large metadata exceeds.
     */
    private static final ObjectMapper HEADER = JsonMapper.builder(JsonFactory.builder()
                    .streamReadConstraints(StreamReadConstraints.builder()
                            .maxStringLength((int) MAX_HEADER_BYTES)
                            .maxNameLength((int) MAX_HEADER_BYTES)
                            .build())
                    .build())
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .build();

    private final Path path;
    private final Arena arena;
    private final boolean ownsArena;
    private final MemorySegment file;
    private final long dataStart;
    private final Map<String, SafetensorsEntry> byName;
    private final List<SafetensorsEntry> entries;
    private final Map<String, String> metadata;

    private SafetensorsFile(
            Path path,
            Arena arena,
            boolean ownsArena,
            MemorySegment file,
            long dataStart,
            List<SafetensorsEntry> entries,
            Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.ownsArena = ownsArena;
        this.file = file;
        this.dataStart = dataStart;
        this.entries = List.copyOf(entries);
        LinkedHashMap<String, SafetensorsEntry> map = new LinkedHashMap<>();
        for (SafetensorsEntry e : entries) {
            map.put(e.name(), e);
        }
        this.byName = Collections.unmodifiableMap(map);
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    /**
     * Maps and validates {@code path}; the mapping lives until {@link #close()}.
     *
     * @param path the file
     * @return the file, to close
     * @throws java.io.IOException when it cannot be read or is malformed, naming what is wrong
     */
    public static SafetensorsFile open(Path path) throws IOException {
        Arena arena = Arena.ofShared();
        try {
            return open(path, arena, true);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Maps and validates {@code path} in the caller's {@code arena}, whose closing unmaps it; {@link #close()} does
     * not.
     *
     * @param path the file
     * @param arena the arena that owns the mapping
     * @return the file
     * @throws java.io.IOException when it cannot be read or is malformed, naming what is wrong
     */
    public static SafetensorsFile open(Path path, Arena arena) throws IOException {
        return open(path, arena, false);
    }

    private static SafetensorsFile open(Path path, Arena arena, boolean ownsArena) throws IOException {
        MemorySegment seg;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new MalformedFileException(
                        path,
                        "file is " + size + " bytes, too short for the 8-byte header length of a safetensors file");
            }
            seg = ch.map(MapMode.READ_ONLY, 0, size, arena);
        }
        long size = seg.byteSize();
        long n = seg.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (n < 0 || n > MAX_HEADER_BYTES) {
            throw new MalformedFileException(
                    path,
                    "header length " + Long.toUnsignedString(n) + " exceeds the format's limit of " + MAX_HEADER_BYTES
                            + " bytes (not a safetensors file?)");
        }
        if (n > size - 8) {
            throw new MalformedFileException(
                    path,
                    "header length " + n + " exceeds the " + (size - 8)
                            + " bytes that follow it (file truncated, or not a safetensors file)");
        }
        if (n < 2) {
            throw new MalformedFileException(path, "header length " + n + " is too small for a JSON object");
        }
        String header;
        try {
            header = StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(seg.asSlice(8, n).asByteBuffer())
                    .toString();
        } catch (CharacterCodingException e) {
            throw new MalformedFileException(path, "header is not valid UTF-8", e);
        }
        if (header.charAt(0) != '{') {
            throw new MalformedFileException(
                    path, "header must start with '{', found '" + header.charAt(0) + "' (not a safetensors file?)");
        }
        JsonNode root;
        try {
            root = HEADER.readTree(header);
        } catch (JacksonException e) {
            String msg = e.getOriginalMessage();
            if (msg != null && msg.startsWith("Duplicate field '")) {
                String name = msg.substring("Duplicate field '".length(), msg.lastIndexOf('\''));
                throw new MalformedFileException(
                        path, "header lists tensor \"" + name + "\" twice (duplicate tensor name)", e);
            }
            throw new MalformedFileException(path, "header is not valid JSON: " + Json.describe(e), e);
        }
        if (root == null || !root.isObject()) {
            throw new MalformedFileException(path, "header must be a JSON object");
        }
        long dataStart = 8 + n;
        long dataSize = size - dataStart;
        Map<String, String> metadata = new LinkedHashMap<>();
        record Raw(String name, String dtype, long[] shape, long begin, long end) {}
        List<Raw> raws = new ArrayList<>();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            String name = field.getKey();
            JsonNode v = field.getValue();
            if (name.equals(METADATA_KEY)) {
                readMetadata(path, v, metadata);
                continue;
            }
            if (name.isEmpty()) {
                throw new MalformedFileException(path, "header has a tensor with an empty name");
            }
            if (!v.isObject()) {
                throw new MalformedFileException(
                        path,
                        "tensor \"" + name + "\": expected an object {dtype, shape, data_offsets}, found "
                                + v.getNodeType());
            }
            JsonNode dt = v.get("dtype");
            if (dt == null || !dt.isTextual()) {
                throw new MalformedFileException(path, "tensor \"" + name + "\": missing or non-string \"dtype\"");
            }
            if (!SafetensorsDtype.isKnown(dt.asText())) {
                throw new MalformedFileException(
                        path,
                        "tensor \"" + name + "\": unknown dtype \"" + dt.asText() + "\", expected one of "
                                + SafetensorsDtype.known());
            }
            long[] shape = longArray(path, name, v.get("shape"), "shape", -1);
            long[] offsets = longArray(path, name, v.get("data_offsets"), "data_offsets", 2);
            raws.add(new Raw(name, dt.asText(), shape, offsets[0], offsets[1]));
        }
        List<Raw> sorted = new ArrayList<>(raws);
        sorted.sort(Comparator.comparingLong(Raw::begin).thenComparingLong(Raw::end));
        long expectedBegin = 0;
        String previous = null;
        List<SafetensorsEntry> entries = new ArrayList<>(sorted.size());
        for (Raw r : sorted) {
            String where = "tensor \"" + r.name + "\" data_offsets [" + r.begin + ", " + r.end + "]";
            if (r.end < r.begin) {
                throw new MalformedFileException(path, where + ": end is before begin");
            }
            if (r.end > dataSize) {
                throw new MalformedFileException(
                        path,
                        where + " run past the end of the data section, which has " + dataSize
                                + " bytes (file truncated?)");
            }
            if (r.begin < expectedBegin) {
                throw new MalformedFileException(
                        path, where + " overlap tensor \"" + previous + "\", which ends at " + expectedBegin);
            }
            if (r.begin > expectedBegin) {
                throw new MalformedFileException(
                        path,
                        where + " leave a gap of " + (r.begin - expectedBegin) + " bytes after "
                                + (previous == null ? "the start of the data" : "tensor \"" + previous + "\"")
                                + " (tensors must be stored contiguously)");
            }
            SafetensorsDtype type = SafetensorsDtype.of(r.dtype);
            long need;
            try {
                need = SafetensorsEntry.byteSize(r.name, type, r.shape);
            } catch (IllegalArgumentException e) {
                throw new MalformedFileException(path, e.getMessage());
            }
            if (need != r.end - r.begin) {
                throw new MalformedFileException(
                        path,
                        where + " span " + (r.end - r.begin) + " bytes but dtype " + r.dtype + " and shape "
                                + Arrays.toString(r.shape) + " need " + need);
            }
            entries.add(
                    new SafetensorsEntry(r.name, r.dtype, r.shape, seg.asSlice(dataStart + r.begin, r.end - r.begin)));
            expectedBegin = r.end;
            previous = r.name;
        }
        if (expectedBegin != dataSize) {
            throw new MalformedFileException(
                    path,
                    (dataSize - expectedBegin) + " bytes follow the last tensor"
                            + (previous == null ? "" : " (\"" + previous + "\")")
                            + "; the data section must end where the last tensor ends");
        }
        return new SafetensorsFile(path, arena, ownsArena, seg, dataStart, entries, metadata);
    }

    private static void readMetadata(Path path, JsonNode v, Map<String, String> out) throws MalformedFileException {
        if (v.isNull()) {
            return;
        }
        if (!v.isObject()) {
            throw new MalformedFileException(
                    path, "\"" + METADATA_KEY + "\" must be an object of strings, found " + v.getNodeType());
        }
        for (Map.Entry<String, JsonNode> m : v.properties()) {
            if (!m.getValue().isTextual()) {
                throw new MalformedFileException(
                        path,
                        "\"" + METADATA_KEY + "\" value for key \"" + m.getKey() + "\" must be a string, found "
                                + m.getValue().getNodeType());
            }
            out.put(m.getKey(), m.getValue().asText());
        }
    }

    private static long[] longArray(Path path, String name, JsonNode node, String field, int requiredLength)
            throws MalformedFileException {
        String where = "tensor \"" + name + "\": \"" + field + "\"";
        if (node == null || !node.isArray()) {
            throw new MalformedFileException(path, where + " is missing or not an array");
        }
        if (requiredLength >= 0 && node.size() != requiredLength) {
            throw new MalformedFileException(
                    path, where + " must have " + requiredLength + " elements, found " + node.size());
        }
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode e = node.get(i);
            if (!e.isIntegralNumber() || !e.canConvertToLong() || e.asLong() < 0) {
                throw new MalformedFileException(
                        path, where + " element " + i + " must be a non-negative integer, found " + e);
            }
            out[i] = e.asLong();
        }
        return out;
    }

    /**
     * The file this view maps.
     *
     * @return the path
     */
    public Path path() {
        return path;
    }

    /**
     * The whole mapped file.
     *
     * @return the mapping
     */
    public MemorySegment segment() {
        return file;
    }

    /**
     * Offset of the data section in the file (8 + header length).
     *
     * @return the offset in bytes
     */
    public long dataOffset() {
        return dataStart;
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
        return path.toString();
    }

    @Override
    public void close() {
        if (ownsArena && arena.scope().isAlive()) {
            arena.close();
        }
    }

    /**
     * Reads only the header of {@code path} as JSON text (for tools), validating the length prefix.
     *
     * @param path the file
     * @return the header's JSON text
     * @throws java.io.IOException when the file cannot be read or its length prefix is wrong
     */
    public static String readHeader(Path path) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            while (len.hasRemaining() && ch.read(len) >= 0) {
                // fill
            }
            if (len.hasRemaining()) {
                throw new MalformedFileException(
                        path, "file is too short for the 8-byte header length of a safetensors file");
            }
            long n = len.flip().getLong();
            if (n < 0 || n > MAX_HEADER_BYTES || n > ch.size() - 8) {
                throw new MalformedFileException(
                        path,
                        "header length " + Long.toUnsignedString(n) + " is not within the file of " + ch.size()
                                + " bytes");
            }
            ByteBuffer h = ByteBuffer.allocate((int) n);
            while (h.hasRemaining() && ch.read(h) >= 0) {
                // fill
            }
            return new String(h.array(), StandardCharsets.UTF_8);
        }
    }
}
