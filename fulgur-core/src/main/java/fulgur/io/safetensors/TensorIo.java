package fulgur.io.safetensors;

import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Finite;
import fulgur.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Named tensors to and from safetensors files (written atomically by the writer). */
public final class TensorIo {
    private TensorIo() {}

    /**
     * Writes {@code tensors} and {@code metadata} to {@code file}, atomically.
     *
     * @param file the file to replace or create
     * @param tensors the tensors by name, on any device
     * @param metadata the metadata strings
     * @throws IOException when writing fails
     */
    public static void save(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        save(file, tensors, metadata, false);
    }

    /**
     * Writes {@code tensors}; with {@code requireFinite}, a tensor holding NaN or an infinity is refused with a
     * {@link Finite.NonFiniteException} before anything is written (checked on the host copy the writer needs anyway).
     *
     * @param file the file to replace or create
     * @param tensors the tensors by name, on any device
     * @param metadata the metadata strings
     * @param requireFinite whether to refuse non-finite values
     * @throws java.io.IOException when writing fails
     * @throws fulgur.tensor.Finite.NonFiniteException when {@code requireFinite} and a value is not finite
     */
    public static void save(Path file, Map<String, Tensor> tensors, Map<String, String> metadata, boolean requireFinite)
            throws IOException {
        SafetensorsWriter w = new SafetensorsWriter();
        metadata.forEach(w::metadata);
        for (var e : tensors.entrySet()) {
            Tensor t = e.getValue();
            Tensor host = t.device().kind() == Device.Kind.CPU
                    ? t.detach()
                    : t.detach().to(Device.CPU);
            Tensor c = host.isContiguous() ? host : host.contiguous();
            if (requireFinite) {
                Finite.requireFinite(e.getKey(), c);
            }
            long es = c.dtype().byteSize();
            MemorySegment seg = c.hostSegment("save").asSlice(c.offset() * es, c.numel() * es);
            int[] s = c.shape();
            long[] shape = new long[s.length];
            for (int i = 0; i < s.length; i++) {
                shape[i] = s[i];
            }
            w.add(e.getKey(), c.dtype().safetensorsName(), shape, seg);
        }
        w.write(file);
    }

    /**
     * Loads every tensor into fresh CPU tensors of the current scope, with the file's metadata.
     *
     * @param file the file
     * @return the tensors and metadata
     * @throws java.io.IOException when the file cannot be read or is malformed
     * @throws IllegalArgumentException when a tensor has a dtype fulgur has no type for
     */
    public static Loaded load(Path file) throws IOException {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Map<String, Tensor> out = new LinkedHashMap<>();
            for (SafetensorsEntry e : f.entries()) {
                out.put(e.name(), toTensor(e, file));
            }
            return new Loaded(out, f.metadata());
        }
    }

    /**
     * A copy of one entry as a tensor.
     *
     * @param e the entry
     * @param file its file, for errors
     * @return a CPU tensor of the current scope
     * @throws IllegalArgumentException when the dtype has no fulgur type or a dimension exceeds 2^31-1
     */
    public static Tensor toTensor(SafetensorsEntry e, Path file) {
        DType dtype;
        try {
            dtype = DType.fromSafetensorsName(e.dtype());
        } catch (IllegalArgumentException ex) {
            throw new IllegalArgumentException(file + ": tensor '" + e.name() + "': " + ex.getMessage(), ex);
        }
        long[] s = e.shape();
        int[] shape = new int[s.length];
        for (int i = 0; i < s.length; i++) {
            if (s[i] > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(
                        file + ": tensor '" + e.name() + "' dimension " + s[i] + " is too large");
            }
            shape[i] = (int) s[i];
        }
        Tensor t = Tensor.empty(dtype, shape);
        MemorySegment.copy(e.data(), 0, t.hostSegment("load"), 0, e.byteSize());
        return t;
    }

    /**
     * Tensors read from a file.
     *
     * @param tensors the tensors by name, in file order
     * @param metadata the file's metadata strings
     */
    public record Loaded(Map<String, Tensor> tensors, Map<String, String> metadata) {}
}
