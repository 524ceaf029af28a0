package fulgur.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * NumPy {@code .npy} arrays (format versions 1.0, 2.0 and 3.0). Reading accepts floating ({@code f2 f4 f8}), integer
 * ({@code i1..i8 u1..u8}) and boolean ({@code b1}) element types in either byte order and C or Fortran order, and
 * returns the values as f32 in C (row-major) order with the shape; writing produces version 1.0 little-endian f32.
 * Every problem is a {@link MalformedFileException} whose message starts with the file.
 */
public final class Npy {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("['\"]descr['\"]\\s*:\\s*['\"]([^'\"]*)['\"]");
    private static final Pattern FORTRAN = Pattern.compile("['\"]fortran_order['\"]\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("['\"]shape['\"]\\s*:\\s*\\(([^)]*)\\)");

    private Npy() {}

    /**
     * An array: its shape and its values in row-major order.
     *
     * @param shape the dimensions
     * @param data the values, row-major
     */
    public record Array(int[] shape, float[] data) {
        /**
         * Checks the sizes.
         *
         * @throws IllegalArgumentException for a negative dimension or a data length that differs from the shape's
         */
        public Array {
            long n = 1;
            for (int s : shape) {
                if (s < 0) {
                    throw new IllegalArgumentException("npy array: negative dimension in " + Arrays.toString(shape));
                }
                n *= s;
            }
            if (n != data.length) {
                throw new IllegalArgumentException(
                        "npy array: shape " + Arrays.toString(shape) + " holds " + n + " values, got " + data.length);
            }
            shape = shape.clone();
        }

        /**
         * "[10, 128]".
         *
         * @return the shape as text
         */
        public String shapeString() {
            return Arrays.toString(shape);
        }
    }

    /**
     * Reads a {@code .npy} file of floating, integer or boolean values, converted to f32 in C order.
     *
     * @param file the file
     * @return the array
     * @throws IOException when the file cannot be read or is not such a file, naming what is wrong
     */
    public static Array read(Path file) throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new MalformedFileException(file, "no such file", e);
        }
        return parse(file, bytes);
    }

    /**
     * Parses the bytes of a {@code .npy} file ({@code file} only names it in errors).
     *
     * @param file the file's name, for errors
     * @param bytes its contents
     * @return the array
     * @throws fulgur.io.MalformedFileException when the bytes are not such a file
     */
    public static Array parse(Path file, byte[] bytes) throws MalformedFileException {
        if (bytes.length < 10 || !Arrays.equals(Arrays.copyOf(bytes, 6), MAGIC)) {
            throw new MalformedFileException(file, "not a .npy file (no \\x93NUMPY magic)");
        }
        int major = bytes[6] & 0xff;
        ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long headerLen;
        int headerStart;
        if (major == 1) {
            headerLen = in.getShort(8) & 0xffff;
            headerStart = 10;
        } else if (major == 2 || major == 3) {
            if (bytes.length < 12) {
                throw new MalformedFileException(file, "truncated .npy header");
            }
            headerLen = in.getInt(8) & 0xffffffffL;
            headerStart = 12;
        } else {
            throw new MalformedFileException(
                    file,
                    "unsupported .npy format version " + major + "." + (bytes[7] & 0xff)
                            + " (expected 1.0, 2.0 or 3.0)");
        }
        if (headerStart + headerLen > bytes.length) {
            throw new MalformedFileException(file, "truncated .npy header (" + headerLen + " bytes announced)");
        }
        String header = new String(
                bytes, headerStart, (int) headerLen, major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        String descr = field(file, header, DESCR, "descr");
        boolean fortran = field(file, header, FORTRAN, "fortran_order").equals("True");
        int[] shape = shape(file, field(file, header, SHAPE, "shape"));
        Element e = element(file, descr);
        long n = 1;
        for (int s : shape) {
            n *= s;
            if (n > Integer.MAX_VALUE - 8) {
                throw new MalformedFileException(file, "array of shape " + Arrays.toString(shape) + " is too large");
            }
        }
        int dataStart = headerStart + (int) headerLen;
        long need = n * e.size;
        if (bytes.length - dataStart < need) {
            throw new MalformedFileException(
                    file,
                    "truncated: shape " + Arrays.toString(shape) + " of '" + descr + "' needs " + need
                            + " bytes of data, the file has " + (bytes.length - dataStart));
        }
        ByteBuffer data = ByteBuffer.wrap(bytes, dataStart, (int) need).slice().order(e.order);
        float[] values = new float[(int) n];
        for (int i = 0; i < n; i++) {
            values[i] = e.read(data, i * e.size);
        }
        return new Array(shape, fortran ? toRowMajor(values, shape) : values);
    }

    /**
     * Writes {@code a} as a version 1.0 little-endian f32 array in C order.
     *
     * @param file the file to replace or create
     * @param a the array
     * @throws java.io.IOException when writing fails
     */
    public static void write(Path file, Array a) throws IOException {
        StringBuilder dims = new StringBuilder();
        for (int s : a.shape()) {
            dims.append(s).append(", ");
        }
        if (a.shape().length > 1) {
            dims.setLength(dims.length() - 2);
        } else if (a.shape().length == 0) {
            dims.setLength(0);
        } else {
            dims.setLength(dims.length() - 1);
        }
        StringBuilder h = new StringBuilder("{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }");
        // numpy pads the header with spaces so that the data starts at a multiple of 64 bytes, ending it with '\n'
        while ((10 + h.length() + 1) % 64 != 0) {
            h.append(' ');
        }
        h.append('\n');
        byte[] header = h.toString().getBytes(StandardCharsets.ISO_8859_1);
        ByteBuffer out =
                ByteBuffer.allocate(10 + header.length + 4 * a.data().length).order(ByteOrder.LITTLE_ENDIAN);
        out.put(MAGIC)
                .put((byte) 1)
                .put((byte) 0)
                .putShort((short) header.length)
                .put(header);
        for (float v : a.data()) {
            out.putFloat(v);
        }
        AtomicFiles.write(file, out.array());
    }

    /**
     * Writes {@code data} of {@code shape} as a version 1.0 little-endian f32 array in C order.
     *
     * @param file the file to replace or create
     * @param data the values, row-major
     * @param shape the dimensions
     * @throws IOException when writing fails
     * @throws IllegalArgumentException when the data length differs from the shape's
     */
    public static void write(Path file, float[] data, int... shape) throws IOException {
        write(file, new Array(shape, data));
    }

    private static String field(Path file, String header, Pattern p, String name) throws MalformedFileException {
        Matcher m = p.matcher(header);
        if (!m.find()) {
            throw new MalformedFileException(file, "malformed .npy header (no '" + name + "'): " + header.strip());
        }
        return m.group(1);
    }

    private static int[] shape(Path file, String text) throws MalformedFileException {
        String[] parts = text.split(",");
        int count = 0;
        int[] shape = new int[parts.length];
        for (String p : parts) {
            String s = p.strip().replace("L", "");
            if (s.isEmpty()) {
                continue;
            }
            try {
                shape[count++] = Integer.parseInt(s);
            } catch (NumberFormatException e) {
                throw new MalformedFileException(file, "malformed .npy shape (" + text + ")");
            }
            if (shape[count - 1] < 0) {
                throw new MalformedFileException(file, "malformed .npy shape (" + text + ")");
            }
        }
        return Arrays.copyOf(shape, count);
    }

    private record Element(char kind, int size, ByteOrder order) {
        float read(ByteBuffer b, int at) {
            return switch (kind) {
                case 'f' ->
                    switch (size) {
                        case 2 -> Float.float16ToFloat(b.getShort(at));
                        case 4 -> b.getFloat(at);
                        default -> (float) b.getDouble(at);
                    };
                case 'i' ->
                    switch (size) {
                        case 1 -> b.get(at);
                        case 2 -> b.getShort(at);
                        case 4 -> b.getInt(at);
                        default -> b.getLong(at);
                    };
                case 'u' ->
                    switch (size) {
                        case 1 -> b.get(at) & 0xff;
                        case 2 -> b.getShort(at) & 0xffff;
                        case 4 -> b.getInt(at) & 0xffffffffL;
                        default -> {
                            long v = b.getLong(at);
                            yield v >= 0 ? v : (v >>> 1) * 2f; // above 2^63: halve, convert, double
                        }
                    };
                default -> b.get(at) != 0 ? 1 : 0; // 'b'
            };
        }
    }

    private static Element element(Path file, String descr) throws MalformedFileException {
        if (descr.length() >= 3 && "<>|=".indexOf(descr.charAt(0)) >= 0) {
            char kind = descr.charAt(1);
            int size;
            try {
                size = Integer.parseInt(descr.substring(2));
            } catch (NumberFormatException e) {
                size = -1;
            }
            boolean ok = switch (kind) {
                case 'f' -> size == 2 || size == 4 || size == 8;
                case 'i', 'u' -> size == 1 || size == 2 || size == 4 || size == 8;
                case 'b' -> size == 1;
                default -> false;
            };
            if (ok) {
                return new Element(kind, size, descr.charAt(0) == '>' ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
            }
        }
        throw new MalformedFileException(
                file, "unsupported .npy element type '" + descr + "' (expected floating, integer or boolean values)");
    }

    /** Fortran (column-major) values to row-major order. */
    private static float[] toRowMajor(float[] f, int[] shape) {
        int nd = shape.length;
        float[] out = new float[f.length];
        int[] idx = new int[nd];
        for (int c = 0; c < f.length; c++) {
            // c enumerates row-major positions; its column-major position has strides 1, s0, s0·s1, ...
            long src = 0;
            long stride = 1;
            for (int d = 0; d < nd; d++) {
                src += idx[d] * stride;
                stride *= shape[d];
            }
            out[c] = f[(int) src];
            for (int d = nd - 1; d >= 0; d--) {
                if (++idx[d] < shape[d]) {
                    break;
                }
                idx[d] = 0;
            }
        }
        return out;
    }
}
