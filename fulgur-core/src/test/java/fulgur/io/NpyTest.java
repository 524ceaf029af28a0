package fulgur.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NpyTest {

    /** A .npy file as numpy lays it out: magic, version, header length, the dict header padded to 64 bytes, data. */
    static byte[] npy(int major, String header, byte[] data) {
        int prefix = major == 1 ? 10 : 12;
        StringBuilder h = new StringBuilder(header);
        while ((prefix + h.length() + 1) % 64 != 0) {
            h.append(' ');
        }
        h.append('\n');
        byte[] hb = h.toString().getBytes(StandardCharsets.ISO_8859_1);
        ByteBuffer b = ByteBuffer.allocate(prefix + hb.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', (byte) major, 0});
        if (major == 1) {
            b.putShort((short) hb.length);
        } else {
            b.putInt(hb.length);
        }
        return b.put(hb).put(data).array();
    }

    static byte[] doubles(ByteOrder order, double... v) {
        ByteBuffer b = ByteBuffer.allocate(8 * v.length).order(order);
        for (double x : v) {
            b.putDouble(x);
        }
        return b.array();
    }

    @Test
    void writtenArraysReadBackAndFollowTheFormat(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("a.npy");
        float[] v = {1.5f, -2, 3, 0, Float.MIN_VALUE, 1e30f};
        Npy.write(f, v, 2, 3);
        Npy.Array a = Npy.read(f);
        assertThat(a.shape()).containsExactly(2, 3);
        assertThat(a.data()).containsExactly(v);
        byte[] bytes = Files.readAllBytes(f);
        String header = new String(bytes, 10, bytes[8], StandardCharsets.ISO_8859_1);
        assertThat(header)
                .startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }")
                .endsWith("\n");
        assertThat((10 + header.length()) % 64).isZero();
        Npy.write(f, new float[] {7, 8}, 2);
        assertThat(new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1))
                .contains("'shape': (2,)");
        assertThat(Npy.read(f).shape()).containsExactly(2);
    }

    @Test
    void readsOtherTypesByteOrdersFortranOrderAndVersion2() throws Exception {
        Path p = Path.of("x.npy");
        Npy.Array f8 = Npy.parse(
                p,
                npy(
                        1,
                        "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
                        doubles(ByteOrder.LITTLE_ENDIAN, 0.5, -1, 2)));
        assertThat(f8.data()).containsExactly(0.5f, -1, 2);
        Npy.Array big = Npy.parse(
                p,
                npy(
                        1,
                        "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }",
                        doubles(ByteOrder.BIG_ENDIAN, 3, 4)));
        assertThat(big.data()).containsExactly(3f, 4f);
        // [[1, 2, 3], [4, 5, 6]] stored column by column
        Npy.Array fortran = Npy.parse(
                p,
                npy(
                        2,
                        "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
                        doubles(ByteOrder.LITTLE_ENDIAN, 1, 4, 2, 5, 3, 6)));
        assertThat(fortran.shape()).containsExactly(2, 3);
        assertThat(fortran.data()).containsExactly(1, 2, 3, 4, 5, 6);
        Npy.Array bools = Npy.parse(
                p, npy(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (1, 3), }", new byte[] {1, 0, 1}));
        assertThat(bools.data()).containsExactly(1, 0, 1);
        ByteBuffer ints =
                ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(-7).putInt(9);
        assertThat(Npy.parse(p, npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", ints.array()))
                        .data())
                .containsExactly(-7, 9);
        ByteBuffer halves = ByteBuffer.allocate(4)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putShort(Float.floatToFloat16(0.25f))
                .putShort(Float.floatToFloat16(-3));
        assertThat(Npy.parse(p, npy(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", halves.array()))
                        .data())
                .containsExactly(0.25f, -3);
        Npy.Array scalar = Npy.parse(
                p,
                npy(
                        1,
                        "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
                        doubles(ByteOrder.LITTLE_ENDIAN, 42)));
        assertThat(scalar.shape()).isEmpty();
        assertThat(scalar.data()).containsExactly(42);
    }

    @Test
    void malformedFilesAreOneClearError(@TempDir Path dir) throws Exception {
        Path p = dir.resolve("bad.npy");
        assertThatThrownBy(() -> Npy.parse(p, "hello world, not numpy".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(MalformedFileException.class)
                .hasMessage(p + ": not a .npy file (no \\x93NUMPY magic)");
        assertThatThrownBy(() -> Npy.parse(
                        p,
                        npy(
                                1,
                                "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }",
                                doubles(ByteOrder.LITTLE_ENDIAN, 1, 2))))
                .hasMessage(p + ": truncated: shape [4] of '<f8' needs 32 bytes of data, the file has 16");
        assertThatThrownBy(() -> Npy.parse(
                        p, npy(1, "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", new byte[16])))
                .hasMessageContaining("unsupported .npy element type '<c16'");
        assertThatThrownBy(() -> Npy.parse(p, npy(1, "{'descr': '<f4', 'shape': (1,), }", new byte[4])))
                .hasMessageContaining("no 'fortran_order'");
        byte[] v9 = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new byte[4]);
        v9[6] = 9;
        assertThatThrownBy(() -> Npy.parse(p, v9)).hasMessageContaining("unsupported .npy format version 9.0");
        assertThatThrownBy(() -> Npy.read(dir.resolve("missing.npy")))
                .hasMessage(dir.resolve("missing.npy") + ": no such file");
        ByteArrayOutputStream cut = new ByteArrayOutputStream();
        cut.write(v9, 0, 9);
        assertThatThrownBy(() -> Npy.parse(p, cut.toByteArray())).isInstanceOf(MalformedFileException.class);
    }
}
