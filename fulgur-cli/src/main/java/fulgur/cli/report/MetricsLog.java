package fulgur.cli.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import fulgur.io.AtomicFiles;
import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A training-metrics log in JSON Lines format: one JSON object per line, one line per event, e.g.
 * <pre>{"step":10,"split":"train","loss":2.31,"lr":3.0E-4,"tokens_per_s":1234.5,"time_s":12.3}</pre>
 *
 * <p><b>Writing.</b> {@link #open(Path)} appends to the file (creating it and its parent directories), so a resumed
 * run continues the same log; {@link #resume(Path, long)} first drops events logged after the checkpoint's step, so
 * the steps re-run after a resume are not logged twice. Each line is flushed as soon as it is written, so a crash
 * loses at most the line being written; such a partial last line is ignored by {@link #read(Path)} and removed by
 * {@link #open(Path)}. The conventional field names are the constants of this class; any other fields may be added.
 *
 * <p><b>Values.</b> Strings, booleans, null and numbers ({@link Integer}, {@link Long}, {@link Double},
 * {@link Float}, {@link java.math.BigDecimal} ...) are written as JSON values, maps as objects, iterables and
 * arrays as arrays, other objects as their {@code toString()}. JSON has no NaN or infinity, so <b>non-finite numbers are written as the strings
 * {@code "NaN"}, {@code "Infinity"} and {@code "-Infinity"}</b> (a diverged loss stays visible and the line stays
 * valid JSON for any tool). {@link #read(Path)} turns those three strings back into the {@code double} values.
 *
 * <p>Writing is synchronized, so several threads may share a log.
 */
public final class MetricsLog implements Closeable {

    /** Field: the optimizer step (integer). */
    public static final String STEP = "step";
    /** Field: the data split of the event, e.g. {@code "train"} or {@code "val"}. */
    public static final String SPLIT = "split";
    /** Field: the loss. */
    public static final String LOSS = "loss";
    /** Field: the learning rate. */
    public static final String LR = "lr";
    /** Field: throughput in tokens per second. */
    public static final String TOKENS_PER_S = "tokens_per_s";
    /** Field: seconds since the start of training. */
    public static final String TIME_S = "time_s";
    /** Field: wall seconds of this step alone (steady-state throughput = tokens per step / its median). */
    public static final String STEP_S = "step_s";
    /** Field: the most memory the model's backend held at once so far, in GiB (device memory on a GPU). */
    public static final String PEAK_MEMORY_GIB = "peak_memory_gib";

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final Path path;
    private final BufferedWriter writer;
    private boolean closed;

    private MetricsLog(Path path, BufferedWriter writer) {
        this.path = path;
        this.writer = writer;
    }

    /**
     * Opens {@code path} for appending, creating the file and its parent directories if needed. If the file's last
     * line has no newline, it is cut off when it is not a complete JSON object (a partial write from a crash), else
     * the newline is added, so the next event always gets a line of its own and the file stays readable.
     */
    public static MetricsLog open(Path path) throws IOException {
        Path abs = path.toAbsolutePath();
        if (abs.getParent() != null) {
            Files.createDirectories(abs.getParent());
        }
        repairLastLine(abs);
        BufferedWriter w = Files.newBufferedWriter(
                abs,
                StandardCharsets.UTF_8,
                StandardOpenOption.CREATE,
                StandardOpenOption.APPEND,
                StandardOpenOption.WRITE);
        return new MetricsLog(abs, w);
    }

    /**
     * Opens {@code path} to continue a run resumed from a checkpoint taken at {@code resumeStep}: first removes
     * (atomically, by rewriting the file) every event whose {@code step} is greater than {@code resumeStep}, since
     * those steps will run again, then opens it for appending as {@link #open(Path)} does. Events without a numeric
     * {@code step} are kept. A missing file is simply created.
     */
    public static MetricsLog resume(Path path, long resumeStep) throws IOException {
        Path abs = path.toAbsolutePath();
        if (Files.exists(abs)) {
            List<String> lines = Files.readAllLines(abs, StandardCharsets.UTF_8);
            List<String> kept = new ArrayList<>(lines.size());
            boolean dropped = false;
            int last = lastNonBlank(lines);
            for (int i = 0; i <= last; i++) {
                String line = lines.get(i);
                if (line.isBlank()) {
                    continue;
                }
                Map<String, Object> event;
                try {
                    event = parseLine(line);
                } catch (JsonProcessingException e) {
                    if (i == last) { // a partial last line from a crash: drop it
                        dropped = true;
                        continue;
                    }
                    throw new IOException(abs + ":" + (i + 1) + ": not a JSON object: " + e.getOriginalMessage(), e);
                }
                if (event.get(STEP) instanceof Number n && n.doubleValue() > resumeStep) {
                    dropped = true;
                } else {
                    kept.add(line);
                }
            }
            if (dropped) {
                AtomicFiles.write(abs, out -> {
                    for (String line : kept) {
                        out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
                    }
                });
            }
        }
        return open(abs);
    }

    /** The absolute path of the log file. */
    public Path path() {
        return path;
    }

    /**
     * Logs one event: {@code step} and {@code split} first, then {@code fields} in their iteration order (use a
     * {@link LinkedHashMap} to control it). A field named {@code step} or {@code split} in {@code fields} is rejected.
     */
    public void log(long step, String split, Map<String, ?> fields) throws IOException {
        if (split == null) {
            throw new IllegalArgumentException("split must not be null");
        }
        Map<String, Object> event = new LinkedHashMap<>();
        event.put(STEP, step);
        event.put(SPLIT, split);
        if (fields != null) {
            for (Map.Entry<String, ?> e : fields.entrySet()) {
                if (STEP.equals(e.getKey()) || SPLIT.equals(e.getKey())) {
                    throw new IllegalArgumentException("field '" + e.getKey() + "' is given separately");
                }
                event.put(e.getKey(), e.getValue());
            }
        }
        log(event);
    }

    /** Logs one event given as a whole map of fields, in its iteration order. Keys must not be null. */
    public synchronized void log(Map<String, ?> event) throws IOException {
        if (closed) {
            throw new IOException("metrics log " + path + " is closed");
        }
        String line = toJson(event);
        writer.write(line);
        writer.write('\n');
        writer.flush();
    }

    /** Closes the file. Further calls do nothing. */
    @Override
    public synchronized void close() throws IOException {
        if (!closed) {
            closed = true;
            writer.close();
        }
    }

    /** The JSON object (one line, no newline) that {@link #log(Map)} writes for {@code event}. */
    public static String toJson(Map<String, ?> event) {
        try {
            return MAPPER.writeValueAsString(toNode(event));
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static JsonNode toNode(Object v) {
        JsonNodeFactory f = MAPPER.getNodeFactory();
        return switch (v) {
            case null -> f.nullNode();
            case String s -> f.textNode(s);
            case Boolean b -> f.booleanNode(b);
            case Integer i -> f.numberNode(i);
            case Long l -> f.numberNode(l);
            case Short s -> f.numberNode(s);
            case Byte b -> f.numberNode(b.intValue());
            case BigInteger b -> f.numberNode(b);
            case BigDecimal b -> f.numberNode(b);
            case Float x when !Float.isFinite(x) -> f.textNode(nonFinite(x));
            case Float x -> f.numberNode(x);
            case Number n when !Double.isFinite(n.doubleValue()) -> f.textNode(nonFinite(n.doubleValue()));
            case Number n -> f.numberNode(n.doubleValue());
            case Map<?, ?> m -> {
                ObjectNode node = f.objectNode();
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (e.getKey() == null) {
                        throw new IllegalArgumentException("field names must not be null");
                    }
                    node.set(e.getKey().toString(), toNode(e.getValue()));
                }
                yield node;
            }
            case Iterable<?> it -> {
                ArrayNode node = f.arrayNode();
                it.forEach(x -> node.add(toNode(x)));
                yield node;
            }
            case double[] a -> {
                ArrayNode node = f.arrayNode();
                for (double x : a) {
                    node.add(toNode(x));
                }
                yield node;
            }
            case long[] a -> {
                ArrayNode node = f.arrayNode();
                for (long x : a) {
                    node.add(x);
                }
                yield node;
            }
            case int[] a -> {
                ArrayNode node = f.arrayNode();
                for (int x : a) {
                    node.add(x);
                }
                yield node;
            }
            case Object[] a -> {
                ArrayNode node = f.arrayNode();
                for (Object x : a) {
                    node.add(toNode(x));
                }
                yield node;
            }
            default -> f.textNode(v.toString());
        };
    }

    private static String nonFinite(double d) {
        return Double.isNaN(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity";
    }

    /**
     * Reads every event of a metrics log, in file order. Integral numbers become {@link Long}, other numbers
     * {@link Double}; the strings {@code "NaN"}, {@code "Infinity"}, {@code "-Infinity"} become the corresponding
     * {@code double}; nested arrays and objects become {@link List}s and {@link Map}s. Blank lines are skipped, and
     * so is an unparsable <em>last</em> line (a partial write from a crash).
     *
     * @throws IOException if the file cannot be read or a line other than the last is not a JSON object
     */
    public static List<Map<String, Object>> read(Path path) throws IOException {
        List<String> lines = Files.readAllLines(path, StandardCharsets.UTF_8);
        List<Map<String, Object>> events = new ArrayList<>(lines.size());
        int last = lastNonBlank(lines);
        for (int i = 0; i <= last; i++) {
            String line = lines.get(i);
            if (line.isBlank()) {
                continue;
            }
            try {
                events.add(parseLine(line));
            } catch (JsonProcessingException e) {
                if (i == last) {
                    break;
                }
                throw new IOException(path + ":" + (i + 1) + ": not a JSON object: " + e.getOriginalMessage(), e);
            }
        }
        return events;
    }

    private static Map<String, Object> parseLine(String line) throws JsonProcessingException {
        JsonNode node = MAPPER.readTree(line);
        if (node == null || !node.isObject()) {
            throw new JsonProcessingException("expected a JSON object") {};
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> map = (Map<String, Object>) toJava(node);
        return map;
    }

    private static Object toJava(JsonNode n) {
        if (n.isObject()) {
            Map<String, Object> m = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> e : n.properties()) {
                m.put(e.getKey(), toJava(e.getValue()));
            }
            return m;
        }
        if (n.isArray()) {
            List<Object> l = new ArrayList<>(n.size());
            for (JsonNode c : n) {
                l.add(toJava(c));
            }
            return l;
        }
        if (n.isIntegralNumber()) {
            return n.canConvertToLong() ? (Object) n.longValue() : n.bigIntegerValue();
        }
        if (n.isNumber()) {
            return n.doubleValue();
        }
        if (n.isTextual()) {
            return switch (n.textValue()) {
                case "NaN" -> Double.NaN;
                case "Infinity" -> Double.POSITIVE_INFINITY;
                case "-Infinity" -> Double.NEGATIVE_INFINITY;
                default -> n.textValue();
            };
        }
        if (n.isBoolean()) {
            return n.booleanValue();
        }
        return null;
    }

    private static int lastNonBlank(List<String> lines) {
        int last = lines.size() - 1;
        while (last >= 0 && lines.get(last).isBlank()) {
            last--;
        }
        return last;
    }

    /**
     * Makes sure a non-empty file ends with a newline: a last line without one is either a complete event written
     * by someone else (a newline is added) or a partial write from a crash (it is cut off).
     */
    private static void repairLastLine(Path file) throws IOException {
        if (!Files.exists(file)) {
            return;
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            long size = ch.size();
            if (size == 0 || byteAt(ch, size - 1) == '\n') {
                return;
            }
            long start = size - 1;
            while (start > 0 && byteAt(ch, start - 1) != '\n') {
                start--;
            }
            ByteBuffer tail = ByteBuffer.allocate(Math.toIntExact(size - start));
            while (tail.hasRemaining() && ch.read(tail, start + tail.position()) >= 0) {
                // read fully
            }
            String line = new String(tail.array(), StandardCharsets.UTF_8);
            boolean complete;
            try {
                complete = !line.isBlank() && parseLine(line) != null;
            } catch (JsonProcessingException e) {
                complete = false;
            }
            if (complete) {
                ch.write(ByteBuffer.wrap(new byte[] {'\n'}), size);
            } else {
                ch.truncate(start);
            }
        }
    }

    private static byte byteAt(FileChannel ch, long pos) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(1);
        if (ch.read(b, pos) != 1) {
            throw new IOException("could not read byte " + pos);
        }
        return b.get(0);
    }
}
