package fulgur.cli.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MetricsLogTest {

    @TempDir
    Path dir;

    private static Map<String, Object> fields(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    @Test
    void writesOneJsonObjectPerLineInFieldOrder() throws IOException {
        Path file = dir.resolve("run/metrics.jsonl"); // parent directory is created
        try (MetricsLog log = MetricsLog.open(file)) {
            assertThat(log.path()).isEqualTo(file.toAbsolutePath());
            log.log(10, "train", fields("loss", 2.31, "lr", 3e-4, "tokens_per_s", 1234.5, "time_s", 12.3));
            log.log(10, "val", fields("loss", 2.5, "ppl", 12.18));
        }
        assertThat(Files.readString(file))
                .isEqualTo(
                        "{\"step\":10,\"split\":\"train\",\"loss\":2.31,\"lr\":3.0E-4,\"tokens_per_s\":1234.5,\"time_s\":12.3}\n"
                                + "{\"step\":10,\"split\":\"val\",\"loss\":2.5,\"ppl\":12.18}\n");
    }

    @Test
    void eachLineIsFlushedImmediately() throws IOException {
        Path file = dir.resolve("m.jsonl");
        try (MetricsLog log = MetricsLog.open(file)) {
            log.log(1, "train", fields("loss", 3.0));
            assertThat(MetricsLog.read(file)).hasSize(1); // visible while the log is still open
            log.log(2, "train", fields("loss", 2.9));
            assertThat(MetricsLog.read(file)).hasSize(2);
        }
    }

    @Test
    void readsBackTypedValues() throws IOException {
        Path file = dir.resolve("m.jsonl");
        try (MetricsLog log = MetricsLog.open(file)) {
            log.log(fields(
                    "step",
                    7,
                    "split",
                    "train",
                    "loss",
                    2.0f,
                    "big",
                    1L << 40,
                    "ok",
                    true,
                    "note",
                    "warm",
                    "missing",
                    null,
                    "ratio",
                    0.125,
                    "nested",
                    List.of(1, 2.5, Double.NaN),
                    "obj",
                    Map.of("k", "v"),
                    "arr",
                    new double[] {0.5, Double.POSITIVE_INFINITY}));
        }
        List<Map<String, Object>> events = MetricsLog.read(file);
        assertThat(events).hasSize(1);
        Map<String, Object> e = events.getFirst();
        assertThat(e.keySet())
                .containsExactly(
                        "step", "split", "loss", "big", "ok", "note", "missing", "ratio", "nested", "obj", "arr");
        assertThat(e.get("step")).isEqualTo(7L);
        assertThat(e.get("split")).isEqualTo("train");
        assertThat(e.get("loss")).isEqualTo(2.0);
        assertThat(e.get("big")).isEqualTo(1L << 40);
        assertThat(e.get("ok")).isEqualTo(true);
        assertThat(e.get("note")).isEqualTo("warm");
        assertThat(e).containsEntry("missing", null);
        assertThat(e.get("ratio")).isEqualTo(0.125);
        assertThat(e.get("nested")).isEqualTo(List.of(1L, 2.5, Double.NaN));
        assertThat(e.get("obj")).isEqualTo(Map.of("k", "v"));
        assertThat(e.get("arr")).isEqualTo(List.of(0.5, Double.POSITIVE_INFINITY));
    }

    @Test
    void nonFiniteNumbersAreWrittenAsStringsAndReadBackAsDoubles() throws IOException {
        Path file = dir.resolve("m.jsonl");
        try (MetricsLog log = MetricsLog.open(file)) {
            log.log(
                    5,
                    "train",
                    fields("loss", Double.NaN, "grad_norm", Double.POSITIVE_INFINITY, "x", Float.NEGATIVE_INFINITY));
        }
        String line = Files.readString(file).strip();
        assertThat(line)
                .isEqualTo(
                        "{\"step\":5,\"split\":\"train\",\"loss\":\"NaN\",\"grad_norm\":\"Infinity\",\"x\":\"-Infinity\"}");
        JsonNode strict = new ObjectMapper().readTree(line); // valid standard JSON
        assertThat(strict.get("loss").asText()).isEqualTo("NaN");

        Map<String, Object> e = MetricsLog.read(file).getFirst();
        assertThat((Double) e.get("loss")).isNaN();
        assertThat(e.get("grad_norm")).isEqualTo(Double.POSITIVE_INFINITY);
        assertThat(e.get("x")).isEqualTo(Double.NEGATIVE_INFINITY);
    }

    @Test
    void reopeningAppends() throws IOException {
        Path file = dir.resolve("m.jsonl");
        try (MetricsLog log = MetricsLog.open(file)) {
            log.log(1, "train", fields("loss", 3.0));
        }
        try (MetricsLog log = MetricsLog.open(file)) {
            log.log(2, "train", fields("loss", 2.0));
        }
        assertThat(MetricsLog.read(file)).extracting(m -> m.get("step")).containsExactly(1L, 2L);
    }

    @Test
    void aPartialLastLineIsSkippedOnReadAndCutOffOnReopen() throws IOException {
        Path file = dir.resolve("m.jsonl");
        Files.writeString(file, "{\"step\":1,\"split\":\"train\",\"loss\":3.0}\n{\"step\":2,\"spl");
        assertThat(MetricsLog.read(file)).hasSize(1);
        try (MetricsLog log = MetricsLog.open(file)) {
            log.log(2, "train", fields("loss", 2.5));
        }
        assertThat(Files.readString(file))
                .isEqualTo("{\"step\":1,\"split\":\"train\",\"loss\":3.0}\n"
                        + "{\"step\":2,\"split\":\"train\",\"loss\":2.5}\n");
        assertThat(MetricsLog.read(file)).extracting(m -> m.get("loss")).containsExactly(3.0, 2.5);
    }

    @Test
    void aCompleteLastLineWithoutNewlineIsKeptOnReopen() throws IOException {
        Path file = dir.resolve("m.jsonl");
        Files.writeString(file, "{\"step\":1,\"loss\":3.0}");
        try (MetricsLog log = MetricsLog.open(file)) {
            log.log(2, "train", fields("loss", 2.5));
        }
        assertThat(Files.readString(file))
                .isEqualTo("{\"step\":1,\"loss\":3.0}\n{\"step\":2,\"split\":\"train\",\"loss\":2.5}\n");
    }

    @Test
    void aCorruptLineInTheMiddleIsAnError() throws IOException {
        Path file = dir.resolve("m.jsonl");
        Files.writeString(file, "{\"step\":1}\nnot json\n{\"step\":3}\n\n");
        assertThatThrownBy(() -> MetricsLog.read(file))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("m.jsonl:2");
        Files.writeString(file, "{\"step\":1}\n[1,2]\n{\"step\":3}\n");
        assertThatThrownBy(() -> MetricsLog.read(file))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("not a JSON object");
    }

    @Test
    void resumeDropsEventsAfterTheCheckpointStep() throws IOException {
        Path file = dir.resolve("m.jsonl");
        try (MetricsLog log = MetricsLog.open(file)) {
            for (int step = 10; step <= 50; step += 10) {
                log.log(step, "train", fields("loss", 10.0 - step / 10.0));
            }
            log.log(fields("event", "note without step"));
        }
        Files.writeString(file, Files.readString(file) + "{\"step\":60,\"sp"); // crashed mid-write
        try (MetricsLog log = MetricsLog.resume(file, 30)) {
            log.log(40, "train", fields("loss", 6.5));
        }
        List<Map<String, Object>> events = MetricsLog.read(file);
        assertThat(events).extracting(m -> m.get("step")).containsExactly(10L, 20L, 30L, null, 40L);
        assertThat(events.getLast().get("loss")).isEqualTo(6.5);
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("m.jsonl"); // no temp left
        }
        try (MetricsLog log = MetricsLog.resume(dir.resolve("new.jsonl"), 0)) { // missing file: created
            log.log(0, "train", fields("loss", 1.0));
        }
        assertThat(MetricsLog.read(dir.resolve("new.jsonl"))).hasSize(1);
    }

    @Test
    void rejectsDuplicateStepOrSplitAndUseAfterClose() throws IOException {
        Path file = dir.resolve("m.jsonl");
        MetricsLog log = MetricsLog.open(file);
        assertThatThrownBy(() -> log.log(1, "train", fields("step", 2))).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> log.log(1, null, fields())).isInstanceOf(IllegalArgumentException.class);
        Map<String, Object> nullKey = new HashMap<>();
        nullKey.put(null, 1);
        assertThatThrownBy(() -> log.log(nullKey)).isInstanceOf(IllegalArgumentException.class);
        log.close();
        log.close();
        assertThatThrownBy(() -> log.log(1, "train", fields()))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("closed");
        assertThat(Files.readString(file)).isEmpty();
    }

    @Test
    void concurrentWritersProduceWholeLines() throws Exception {
        Path file = dir.resolve("m.jsonl");
        int threads = 4;
        int each = 250;
        try (MetricsLog log = MetricsLog.open(file);
                ExecutorService pool = Executors.newFixedThreadPool(threads)) {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                fs.add(pool.submit(() -> {
                    for (int i = 0; i < each; i++) {
                        log.log(i, "w" + id, fields("loss", i * 0.5, "pad", "x".repeat(200)));
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
        }
        List<Map<String, Object>> events = MetricsLog.read(file);
        assertThat(events).hasSize(threads * each);
        long[] perSplit = new long[threads];
        for (Map<String, Object> e : events) {
            perSplit[Integer.parseInt(((String) e.get("split")).substring(1))]++;
        }
        assertThat(Arrays.stream(perSplit).boxed()).containsOnly((long) each);
        assertThat(Files.readString(file, StandardCharsets.UTF_8).lines()).allMatch(l -> l.endsWith("}"));
    }
}
