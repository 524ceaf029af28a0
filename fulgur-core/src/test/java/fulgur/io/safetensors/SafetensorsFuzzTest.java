package fulgur.io.safetensors;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.io.MalformedFileException;
import fulgur.tensor.Scope;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Label;
import net.jqwik.api.Property;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Malformed safetensors files, generated: headers with wrong, missing, huge, negative or mistyped fields, length
 * prefixes that lie, truncated and bit-flipped files. Opening one either succeeds with entries that lie inside the
 * file, or fails with a {@link MalformedFileException} naming the file; nothing else (no index or arithmetic errors,
 * no exhausted memory). Seeded: every run tries the same cases.
 */
class SafetensorsFuzzTest {

    private static Path dir;

    @BeforeContainer
    static void makeDir() throws Exception {
        dir = Files.createTempDirectory("fulgur-st-fuzz");
    }

    @AfterContainer
    static void removeDir() throws Exception {
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        Files.delete(dir);
    }

    private static final String[] DTYPES = {
        "F32", "F16", "BF16", "F64", "I32", "I64", "U8", "I8", "BOOL", "F8_E4M3", "Q4", "", "f32"
    };
    private static final long[] NUMBERS = {
        0, 1, 2, 3, 4, 7, 8, 16, 24, 64, -1, -8, Integer.MAX_VALUE, 1L << 32, Long.MAX_VALUE, Long.MIN_VALUE
    };

    private static String number(SplittableRandom r) {
        return switch (r.nextInt(12)) {
            case 0 -> "1.5";
            case 1 -> "\"8\"";
            case 2 -> "1e400";
            case 3 -> "18446744073709551616"; // 2^64
            case 4 -> "null";
            case 5 -> "[]";
            default -> Long.toString(NUMBERS[r.nextInt(NUMBERS.length)]);
        };
    }

    private static String array(SplittableRandom r, int typical) {
        int n = r.nextInt(8) == 0 ? r.nextInt(6) : typical;
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < n; i++) {
            sb.append(i == 0 ? "" : ",").append(r.nextInt(3) == 0 ? number(r) : Integer.toString(r.nextInt(9)));
        }
        return r.nextInt(20) == 0 ? "\"[1,2]\"" : sb.append(']').toString();
    }

    /** A header of a few tensors with mostly plausible, sometimes wrong fields, and data of a plausible size. */
    private static byte[] generated(SplittableRandom r) {
        StringBuilder h = new StringBuilder("{");
        int tensors = r.nextInt(4);
        long offset = 0;
        for (int t = 0; t < tensors; t++) {
            String dtype = DTYPES[r.nextInt(DTYPES.length)];
            long elems = 1 + r.nextInt(6);
            long size = elems * 4;
            long begin = r.nextInt(6) == 0 ? r.nextInt(40) - 8 : offset;
            long end = r.nextInt(6) == 0 ? r.nextInt(60) - 8 : begin + size;
            h.append(t == 0 ? "" : ",")
                    .append('"')
                    .append(r.nextInt(10) == 0 ? "" : "t" + (r.nextInt(8) == 0 ? 0 : t))
                    .append("\":");
            switch (r.nextInt(16)) {
                case 0 -> h.append("[1,2]");
                case 1 -> h.append("{\"dtype\":\"F32\"}");
                default ->
                    h.append("{\"dtype\":")
                            .append(r.nextInt(12) == 0 ? "5" : "\"" + dtype + "\"")
                            .append(",\"shape\":")
                            .append(r.nextInt(3) == 0 ? array(r, 1 + r.nextInt(3)) : "[" + elems + "]")
                            .append(",\"data_offsets\":")
                            .append(r.nextInt(3) == 0 ? array(r, 2) : "[" + begin + "," + end + "]")
                            .append('}');
            }
            offset = Math.max(offset, end);
        }
        if (r.nextInt(3) == 0) {
            h.append(tensors == 0 ? "" : ",")
                    .append("\"__metadata__\":")
                    .append(
                            switch (r.nextInt(4)) {
                                case 0 -> "{\"format\":\"pt\"}";
                                case 1 -> "{\"n\":3}";
                                case 2 -> "[]";
                                default -> "null";
                            });
        }
        h.append('}');
        if (r.nextInt(10) == 0) {
            h.setLength(r.nextInt(h.length() + 1)); // cut short: not JSON any more
        }
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        long data = Math.max(0, offset + (r.nextInt(4) == 0 ? r.nextInt(9) - 4 : 0));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        long prefix = r.nextInt(8) == 0 ? NUMBERS[r.nextInt(NUMBERS.length)] : header.length;
        out.writeBytes(ByteBuffer.allocate(8)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putLong(prefix)
                .array());
        out.writeBytes(header);
        out.writeBytes(new byte[(int) data]);
        return out.toByteArray();
    }

    /** A valid file with bytes flipped, the prefix rewritten, or the end cut off. */
    private static byte[] mutated(SplittableRandom r) {
        String header =
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + 32)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putLong(h.length)
                .put(h);
        byte[] file = b.array();
        switch (r.nextInt(3)) {
            case 0 -> {
                for (int i = 0, n = 1 + r.nextInt(4); i < n; i++) {
                    file[r.nextInt(file.length)] ^= (byte) (1 << r.nextInt(8));
                }
            }
            case 1 ->
                ByteBuffer.wrap(file)
                        .order(ByteOrder.LITTLE_ENDIAN)
                        .putLong(0, NUMBERS[r.nextInt(NUMBERS.length)] + r.nextInt(3) - 1);
            default -> file = java.util.Arrays.copyOf(file, r.nextInt(file.length));
        }
        return file;
    }

    private static void opensOrNamesTheFile(byte[] bytes, long seed) throws Exception {
        Path f = dir.resolve("case-" + Long.toHexString(seed) + ".safetensors");
        Files.write(f, bytes);
        try (SafetensorsFile st = SafetensorsFile.open(f);
                Scope s = Scope.open()) {
            for (SafetensorsEntry e : st.entries()) {
                assertThat(e.data().byteSize()).isEqualTo(e.byteSize());
                try {
                    TensorIo.toTensor(e, f);
                } catch (IllegalArgumentException ex) {
                    assertThat(ex.getMessage())
                            .startsWith(f.toString())
                            .doesNotContain("\n"); // e.g. a dtype fulgur does not compute in
                }
            }
        } catch (MalformedFileException e) {
            assertThat(e.getMessage()).startsWith(f.toString()).doesNotContain("\n");
        } finally {
            Files.delete(f);
        }
    }

    @Property(tries = 1000, seed = "11")
    @Label("generated headers: open or a MalformedFileException")
    void generatedHeadersOpenOrAreReported(@ForAll long seed) throws Exception {
        opensOrNamesTheFile(generated(new SplittableRandom(seed)), seed);
    }

    @Property(tries = 1000, seed = "12")
    @Label("damaged files: open or a MalformedFileException")
    void damagedFilesOpenOrAreReported(@ForAll long seed) throws Exception {
        opensOrNamesTheFile(mutated(new SplittableRandom(seed)), seed);
    }
}
