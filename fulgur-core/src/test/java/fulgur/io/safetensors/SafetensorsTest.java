package fulgur.io.safetensors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.io.MalformedFileException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {

    @TempDir
    Path dir;

    /** A file made by hand: length prefix, header text (unpadded unless padded by the caller), data. */
    private Path raw(String name, String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ByteBuffer.allocate(8)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putLong(h.length)
                .array());
        out.writeBytes(h);
        out.writeBytes(data);
        Path f = dir.resolve(name);
        Files.write(f, out.toByteArray());
        return f;
    }

    private static byte[] floatsLe(float... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) {
            b.putFloat(x);
        }
        return b.array();
    }

    @Test
    void readsAFileBuiltByteByByteFromTheSpec() throws IOException {
        // two tensors stored out of header order, metadata last, an unpadded header: all legal
        byte[] data = new byte[8 + 2 * 3 * 2];
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        b.putFloat(1.0f).putFloat(-2.5f);
        for (int i = 0; i < 6; i++) {
            b.putShort((short) (i - 3));
        }
        Path f = raw(
                "spec.safetensors",
                "{\"b\":{\"dtype\":\"I16\",\"shape\":[2,3],\"data_offsets\":[8,20]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"__metadata__\":{\"format\":\"pt\"}}",
                data);
        try (SafetensorsFile st = SafetensorsFile.open(f)) {
            assertThat(st.names()).containsExactly("a", "b");
            assertThat(st.metadata()).containsExactlyEntriesOf(Map.of("format", "pt"));
            SafetensorsEntry a = st.get("a");
            assertThat(a.dtype()).isEqualTo("F32");
            assertThat(a.shape()).containsExactly(2);
            assertThat(a.toFloatArray()).containsExactly(1.0f, -2.5f);
            SafetensorsEntry bt = st.get("b");
            assertThat(bt.shape()).containsExactly(2, 3);
            assertThat(bt.numel()).isEqualTo(6);
            assertThat(bt.toLongArray()).containsExactly(-3, -2, -1, 0, 1, 2);
            // zero copy: the entry is a slice of the mapping
            assertThat(a.data().isMapped()).isTrue();
            assertThat(a.data().address()).isEqualTo(st.segment().address() + st.dataOffset());
            assertThatThrownBy(() -> st.get("c"))
                    .isInstanceOf(NoSuchElementException.class)
                    .hasMessageContaining("no tensor named \"c\"");
        }
    }

    @Test
    void writerProducesTheReferenceLayoutExactly() throws IOException {
        Path f = dir.resolve("w.safetensors");
        new SafetensorsWriter()
                .metadata("k", "v")
                .add("x", "F32", new long[] {2}, floatsLe(1f, 2f))
                .write(f);
        String json = "{\"__metadata__\":{\"k\":\"v\"},\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        int padded = (json.length() + 7) / 8 * 8;
        ByteBuffer expected = ByteBuffer.allocate(8 + padded + 8).order(ByteOrder.LITTLE_ENDIAN);
        expected.putLong(padded).put(json.getBytes(StandardCharsets.UTF_8));
        for (int i = json.length(); i < padded; i++) {
            expected.put((byte) ' ');
        }
        expected.put(floatsLe(1f, 2f));
        assertThat(Files.readAllBytes(f)).isEqualTo(expected.array());
        assertThat(SafetensorsFile.readHeader(f).strip()).isEqualTo(json);
    }

    @Test
    void roundTripsEveryDtypeWithMetadataScalarsAndEmptyTensors() throws IOException {
        Random rnd = new Random(42);
        List<SafetensorsEntry> tensors = new ArrayList<>();
        for (SafetensorsDtype d : SafetensorsDtype.values()) {
            long[] shape = {3, 1 + rnd.nextInt(4)};
            byte[] bytes = new byte[(int) (shape[0] * shape[1] * d.byteSize())];
            rnd.nextBytes(bytes);
            tensors.add(SafetensorsEntry.of("t." + d.name().toLowerCase(), d.name(), shape, bytes));
        }
        tensors.add(SafetensorsEntry.ofFloats("scalar", new long[0], new float[] {3.5f}));
        tensors.add(SafetensorsEntry.of("empty", "F32", new long[] {0, 7}, new byte[0]));
        tensors.add(SafetensorsEntry.ofDoubles("f64", new long[] {2}, new double[] {Math.PI, -0.0}));
        tensors.add(SafetensorsEntry.ofLongs("i64", new long[] {2}, new long[] {Long.MIN_VALUE, 5}));
        tensors.add(SafetensorsEntry.ofInts("i32", new long[] {1, 1, 2}, new int[] {-7, Integer.MAX_VALUE}));
        Map<String, String> meta = Map.of("format", "pt", "note", "ünïcode");
        Path f = dir.resolve("all.safetensors");
        SafetensorsWriter.write(f, tensors, meta);
        assertThat(SafetensorsFile.readHeader(f).getBytes(StandardCharsets.UTF_8).length % 8)
                .isZero();
        try (SafetensorsFile st = SafetensorsFile.open(f)) {
            assertThat(st.dataOffset() % 8).isZero();
            assertThat(st.entries()).containsExactlyElementsOf(tensors);
            assertThat(st.metadata()).isEqualTo(meta);
            assertThat(st.get("scalar").toFloatArray()).containsExactly(3.5f);
            assertThat(st.get("scalar").rank()).isZero();
            assertThat(st.get("empty").numel()).isZero();
            assertThat(st.get("f64").toDoubleArray()).containsExactly(Math.PI, -0.0);
            assertThat(st.get("i64").toLongArray()).containsExactly(Long.MIN_VALUE, 5);
            assertThat(st.get("i32").toLongArray()).containsExactly(-7, Integer.MAX_VALUE);
        }
    }

    @Test
    void copiesFromAMappedFileIntoANewOne() throws IOException {
        Path a = dir.resolve("a.safetensors");
        SafetensorsWriter.write(
                a, List.of(SafetensorsEntry.ofFloats("w", new long[] {2, 2}, new float[] {1, 2, 3, 4})));
        Path b = dir.resolve("b.safetensors");
        try (SafetensorsFile st = SafetensorsFile.open(a)) {
            SafetensorsWriter.write(b, st.entries(), Map.of("from", "a"));
        }
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile st = SafetensorsFile.open(b, arena);
            assertThat(st.get("w").toFloatArray()).containsExactly(1, 2, 3, 4);
            st.close(); // does not close the caller's arena
            assertThat(st.get("w").toFloatArray()).containsExactly(1, 2, 3, 4);
        }
    }

    @Test
    void decodesHalfPrecisionFormats() {
        // bf16 of 1.5 is 0x3FC0, f16 of -2.0 is 0xC000
        SafetensorsEntry bf = SafetensorsEntry.of("bf", "BF16", new long[] {1}, new byte[] {(byte) 0xC0, 0x3F});
        SafetensorsEntry hf = SafetensorsEntry.of("hf", "F16", new long[] {1}, new byte[] {0x00, (byte) 0xC0});
        assertThat(bf.toFloatArray()).containsExactly(1.5f);
        assertThat(hf.toFloatArray()).containsExactly(-2.0f);
        assertThatThrownBy(() -> SafetensorsEntry.of("b", "BOOL", new long[] {1}, new byte[1])
                        .toFloatArray())
                .isInstanceOf(UnsupportedOperationException.class)
                .hasMessageContaining("\"b\"")
                .hasMessageContaining("BOOL");
    }

    @Test
    void writerRejectsBadArguments() {
        assertThatThrownBy(() -> SafetensorsEntry.of("w", "F32", new long[] {3}, new byte[8]))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("\"w\"")
                .hasMessageContaining("needs 12 bytes but the data has 8");
        assertThatThrownBy(() -> SafetensorsEntry.of("w", "F31", new long[] {1}, new byte[4]))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("unknown safetensors dtype \"F31\"");
        assertThatThrownBy(() -> SafetensorsEntry.of("w", "F32", new long[] {-1}, new byte[0]))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("negative dimension");
        List<SafetensorsEntry> dup = List.of(
                SafetensorsEntry.ofFloats("a", new long[] {1}, new float[1]),
                SafetensorsEntry.ofFloats("a", new long[] {1}, new float[1]));
        assertThatThrownBy(() -> SafetensorsWriter.write(dir.resolve("d.safetensors"), dup))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("duplicate tensor name \"a\"");
        assertThat(dir.resolve("d.safetensors")).doesNotExist();
        assertThatThrownBy(() -> SafetensorsWriter.write(
                        dir.resolve("m.safetensors"),
                        List.of(SafetensorsEntry.ofFloats("__metadata__", new long[] {1}, new float[1]))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("reserved");
    }

    // ---- corrupt files ----

    private void assertMalformed(Path f, String... fragments) {
        var a = assertThatThrownBy(() -> SafetensorsFile.open(f).close())
                .isInstanceOf(MalformedFileException.class)
                .hasMessageStartingWith(f.toString());
        for (String s : fragments) {
            a.hasMessageContaining(s);
        }
    }

    private static String tensor(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + ","
                + end + "]}";
    }

    @Test
    void truncatedFilesAreReported() throws IOException {
        Path valid = dir.resolve("v.safetensors");
        SafetensorsWriter.write(
                valid, List.of(SafetensorsEntry.ofFloats("w", new long[] {4}, new float[] {1, 2, 3, 4})));
        byte[] bytes = Files.readAllBytes(valid);

        Path shortData = dir.resolve("short.safetensors");
        Files.write(shortData, java.util.Arrays.copyOf(bytes, bytes.length - 3));
        assertMalformed(shortData, "tensor \"w\"", "run past the end of the data section", "truncated");

        Path shortHeader = dir.resolve("shorth.safetensors");
        Files.write(shortHeader, java.util.Arrays.copyOf(bytes, 20));
        assertMalformed(shortHeader, "header length", "exceeds");

        Path tiny = dir.resolve("tiny.safetensors");
        Files.write(tiny, new byte[] {1, 2, 3});
        assertMalformed(tiny, "too short");

        Path huge = dir.resolve("huge.safetensors");
        Files.write(
                huge,
                ByteBuffer.allocate(16)
                        .order(ByteOrder.LITTLE_ENDIAN)
                        .putLong(-5)
                        .array());
        assertMalformed(huge, "limit");
    }

    @Test
    void badJsonIsReported() throws IOException {
        assertMalformed(raw("j1.safetensors", "{\"a\":{\"dtype\":", new byte[0]), "not valid JSON");
        assertMalformed(raw("j2.safetensors", "[1,2,3]", new byte[0]), "must start with '{'");
        assertMalformed(raw("j3.safetensors", "{\"a\":5}", new byte[0]), "tensor \"a\"", "expected an object");
        assertMalformed(
                raw("j4.safetensors", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]),
                "tensor \"a\"",
                "\"dtype\"");
        assertMalformed(
                raw("j5.safetensors", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", new byte[4]),
                "tensor \"a\"",
                "\"shape\"");
        assertMalformed(
                raw("j6.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", new byte[4]),
                "\"data_offsets\" must have 2");
        assertMalformed(
                raw(
                        "j7.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}",
                        new byte[4]),
                "non-negative integer");
        assertMalformed(
                raw("j8.safetensors", "{\"__metadata__\":{\"n\":3}}", new byte[0]),
                "\"__metadata__\"",
                "\"n\"",
                "must be a string");
        assertMalformed(
                raw(
                        "j9.safetensors",
                        "{" + tensor("a", "F32", "[1]", 0, 4) + "," + tensor("a", "F32", "[1]", 4, 8) + "}",
                        new byte[8]),
                "lists tensor \"a\" twice",
                "duplicate tensor name");
        byte[] badUtf8 = {'{', '"', (byte) 0xC3, '"', ':', '1', '}', ' '};
        Path f = dir.resolve("utf.safetensors");
        ByteBuffer bb = ByteBuffer.allocate(16)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putLong(8)
                .put(badUtf8);
        Files.write(f, bb.array());
        assertMalformed(f, "not valid UTF-8");
    }

    @Test
    void badTensorDescriptionsAreReported() throws IOException {
        assertMalformed(
                raw("d1.safetensors", "{" + tensor("w", "F33", "[1]", 0, 4) + "}", new byte[4]),
                "tensor \"w\"",
                "unknown dtype \"F33\"");
        assertMalformed(
                raw("d2.safetensors", "{" + tensor("w", "F32", "[3]", 0, 8) + "}", new byte[8]),
                "tensor \"w\"",
                "span 8 bytes",
                "need 12");
        assertMalformed(
                raw(
                        "d3.safetensors",
                        "{" + tensor("w", "F32", "[1]", 0, 4) + "," + tensor("v", "F32", "[1]", 2, 6) + "}",
                        new byte[6]),
                "tensor \"v\"",
                "overlap tensor \"w\"");
        assertMalformed(
                raw(
                        "d4.safetensors",
                        "{" + tensor("w", "F32", "[1]", 0, 4) + "," + tensor("v", "F32", "[1]", 8, 12) + "}",
                        new byte[12]),
                "tensor \"v\"",
                "gap of 4 bytes");
        assertMalformed(
                raw("d5.safetensors", "{" + tensor("w", "F32", "[1]", 4, 0) + "}", new byte[4]), "end is before begin");
        assertMalformed(
                raw("d6.safetensors", "{" + tensor("w", "F32", "[1]", 0, 4) + "}", new byte[9]),
                "5 bytes follow the last tensor");
        assertMalformed(
                raw("d7.safetensors", "{" + tensor("w", "F32", "[1]", 0, 400) + "}", new byte[4]),
                "tensor \"w\"",
                "past the end");
        assertMalformed(
                raw(
                        "d8.safetensors",
                        "{" + tensor("w", "I8", "[4294967296,4294967296,4294967296]", 0, 4) + "}",
                        new byte[4]),
                "more elements than fit");
    }

    // ---- sharded checkpoints ----

    @Test
    void shardedCheckpointIsOneView() throws IOException {
        List<SafetensorsEntry> tensors = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            float[] v = new float[10];
            java.util.Arrays.fill(v, i);
            tensors.add(SafetensorsEntry.ofFloats("layer." + i + ".w", new long[] {10}, v));
        }
        List<Path> shards = SafetensorsWriter.writeSharded(dir, tensors, SafetensorsWriter.PT_METADATA, 100);
        assertThat(shards)
                .extracting(p -> p.getFileName().toString())
                .containsExactly(
                        "model-00001-of-00003.safetensors",
                        "model-00002-of-00003.safetensors",
                        "model-00003-of-00003.safetensors");
        try (Safetensors st = Safetensors.open(dir)) {
            assertThat(st).isInstanceOf(ShardedSafetensors.class);
            assertThat(st.entries()).containsExactlyElementsOf(tensors);
            assertThat(st.metadata()).containsEntry("total_size", "200");
            assertThat(st.get("layer.3.w").toFloatArray()).containsOnly(3f);
            assertThat(((ShardedSafetensors) st).shards()).hasSize(3);
        }
    }

    @Test
    void missingShardsAreAllListed() throws IOException {
        Files.writeString(
                dir.resolve(Safetensors.INDEX_FILE),
                "{\"metadata\":{},\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\",\"c\":\"s3.safetensors\"}}");
        SafetensorsWriter.write(
                dir.resolve("s2.safetensors"), List.of(SafetensorsEntry.ofFloats("b", new long[] {1}, new float[1])));
        assertThatThrownBy(() -> Safetensors.open(dir))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining("2 of 3 shard files are missing")
                .hasMessageContaining("s1.safetensors, s3.safetensors");
    }

    @Test
    void weightMapPointingAtTheWrongShardIsReported() throws IOException {
        SafetensorsWriter.write(
                dir.resolve("s1.safetensors"), List.of(SafetensorsEntry.ofFloats("a", new long[] {1}, new float[1])));
        SafetensorsWriter.write(
                dir.resolve("s2.safetensors"), List.of(SafetensorsEntry.ofFloats("b", new long[] {1}, new float[1])));
        Path index = dir.resolve("custom.index.json");
        Files.writeString(
                index, "{\"weight_map\":{\"a\":\"s2.safetensors\",\"b\":\"s2.safetensors\",\"x\":\"s1.safetensors\"}}");
        assertThatThrownBy(() -> Safetensors.open(index))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining(
                        "tensor \"a\" in s2.safetensors, which does not contain it (it is in s1.safetensors)");
        Files.writeString(index, "{\"weight_map\":{\"a\":\"../s1.safetensors\"}}");
        assertThatThrownBy(() -> Safetensors.open(index))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining("expected a file name inside");
        Files.writeString(index, "{\"weights\":{}}");
        assertThatThrownBy(() -> Safetensors.open(index))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining("missing \"weight_map\"");
    }

    @Test
    void openDispatchesOnPathKind() throws IOException {
        SafetensorsWriter.write(
                dir.resolve("model.safetensors"),
                List.of(SafetensorsEntry.ofFloats("a", new long[] {1}, new float[] {7})));
        try (Safetensors st = Safetensors.open(dir)) {
            assertThat(st).isInstanceOf(SafetensorsFile.class);
            assertThat(st.get("a").toFloatArray()).containsExactly(7f);
        }
        Path empty = Files.createDirectory(dir.resolve("empty"));
        assertThatThrownBy(() -> Safetensors.open(empty))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("neither");
    }
}
