package fulgur.models.hf;

import fulgur.io.AtomicFiles;
import fulgur.io.ModelDirectoryWriter;
import fulgur.io.safetensors.Safetensors;
import fulgur.io.safetensors.SafetensorsEntry;
import fulgur.io.safetensors.SafetensorsWriter;
import fulgur.io.safetensors.TensorIo;
import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.nn.Int8Weights;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import fulgur.tokenizer.TokenizerFiles;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Checkpoints in the layout of each architecture's reference implementation (Hugging Face): a directory with
 * {@code config.json} and either {@code model.safetensors} or sharded {@code model-0000i-of-0000n.safetensors} with
 * {@code model.safetensors.index.json}, tensors named as the reference code names them. Loading picks the
 * architecture from config.json's {@code model_type}, maps names through {@link Architecture#fromReference} and
 * checks every tensor: missing, unexpected and mis-shaped ones are listed together in one error.
 */
public final class ReferenceCheckpoint {

    /** The name of the model's configuration file. */
    public static final String CONFIG = "config.json";

    private ReferenceCheckpoint() {}

    /**
     * Builds the model of {@code dir}'s config.json and loads its weights (converted to the model's dtype). {@code dir}
     * is a reference checkpoint, a fulgur checkpoint ({@code .../checkpoint}) or a training run's output directory
     * (its {@code checkpoint/} is used); tensors named as our modules name them load directly, others through the
     * architecture's {@link Architecture#fromReference}.
     *
     * @param dir a model, checkpoint or run directory
     * @return the model, on the CPU
     * @throws java.io.IOException when a file cannot be read
     * @throws IllegalArgumentException when the directory holds no model, or its config or weights are bad
     */
    public static LanguageModel load(Path dir) throws IOException {
        dir = modelDirectory(dir);
        Path config = dir.resolve(CONFIG);
        if (!Files.isRegularFile(config)) {
            throw new IllegalArgumentException(dir + ": no " + CONFIG
                    + " (a reference checkpoint directory holds config.json and model.safetensors or its shard index)");
        }
        String json = Architectures.read(config);
        Architecture arch;
        LanguageModel model;
        try {
            arch = Architectures.forConfig(json);
            model = arch.build(json, 0);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(config + ": " + e.getMessage(), e);
        }
        try {
            loadWeights(dir, arch, json, model);
            return model;
        } catch (RuntimeException | IOException e) {
            model.close();
            throw e;
        }
    }

    /**
     * The directory {@link #load} reads the model from: {@code dir} itself, or for a training run's output directory
     * its checkpoint ({@code checkpoint/}, or {@code checkpoint.old} left by an interrupted save).
     *
     * @param dir a model or run directory
     * @return the directory holding config.json
     * @throws IllegalArgumentException when {@code dir} is not a directory
     */
    public static Path modelDirectory(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("no model at " + dir + ": not a directory");
        }
        Path run = dir.resolve("checkpoint");
        if (Files.isDirectory(run) || Files.isDirectory(run.resolveSibling("checkpoint.old"))) {
            return runCheckpoint(run);
        }
        return dir;
    }

    /**
     * Loads {@code dir}'s safetensors (single or sharded) into {@code model}, strictly. Int8 weights with their scales
     * ({@link Int8Weights}) turn their linear layers into int8 ones, which keep them int8 in memory.
     *
     * @param dir the directory of the safetensors
     * @param arch the model's architecture
     * @param configJson the model's config.json text
     * @param model the model to load into
     * @throws java.io.IOException when a file cannot be read
     * @throws IllegalArgumentException when the files are malformed or the tensors do not fit the model
     */
    public static void loadWeights(Path dir, Architecture arch, String configJson, LanguageModel model)
            throws IOException {
        try (Safetensors st = Safetensors.open(dir)) {
            Map<String, Tensor> theirs = new LinkedHashMap<>();
            for (SafetensorsEntry e : st.entries()) {
                theirs.put(e.name(), TensorIo.toTensor(e, dir));
            }
            Set<String> int8 = new LinkedHashSet<>();
            theirs.forEach((name, t) -> {
                if (t.dtype() == DType.I8) {
                    int8.add(name);
                }
            });
            try {
                Int8Weights.prepareLinears(model.module(), int8);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(dir + " (" + st.describe() + "): " + e.getMessage(), e);
            }
            Map<String, Tensor> ours =
                    theirs.keySet().equals(model.module().namedParameters().keySet())
                            ? theirs
                            : arch.fromReference(theirs, configJson);
            try {
                model.module().loadStateDict(ours, true);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(dir + " (" + st.describe() + "): " + e.getMessage(), e);
            }
        }
    }

    /**
     * Writes {@code model} in its reference layout: config.json as the reference code reads it
     * ({@link Architecture#referenceConfig}) and safetensors of {@code dtype} (null keeps each tensor's dtype),
     * sharded with an index when larger than {@code maxShardBytes}. {@code dir} must be absent, empty, or a model
     * directory fulgur wrote; see {@link #save(LanguageModel, Path, DType, long, boolean)}.
     *
     * @param model the model
     * @param dir the directory to write
     * @param dtype the dtype of floating tensors, or null to keep each one's
     * @param maxShardBytes the largest shard in bytes
     * @throws java.io.IOException when writing fails
     * @throws IllegalArgumentException when {@code dir} holds files fulgur did not write
     */
    public static void save(LanguageModel model, Path dir, DType dtype, long maxShardBytes) throws IOException {
        save(model, dir, dtype, maxShardBytes, false);
    }

    /**
     * {@link #save(LanguageModel, Path, DType, long)}, with {@code overwrite} also into a directory fulgur did not
     * write, whose model files are replaced and other files kept ({@link ModelDirectoryWriter}). Files are written to a fresh
     * sibling directory first, so a failure leaves {@code dir} as it was; nothing but model files is ever deleted.
     *
     * @param model the model
     * @param dir the directory to write
     * @param dtype the dtype of floating tensors, or null to keep each one's
     * @param maxShardBytes the largest shard in bytes
     * @param overwrite whether to replace the model files of a directory fulgur did not write
     * @throws java.io.IOException when writing fails
     * @throws IllegalArgumentException when {@code dir} holds files fulgur did not write and {@code overwrite} is off
     */
    public static void save(LanguageModel model, Path dir, DType dtype, long maxShardBytes, boolean overwrite)
            throws IOException {
        save(model, dir, dtype, maxShardBytes, overwrite, List.of());
    }

    /**
     * The same, with {@code tokenizerFiles} ({@link TokenizerFiles}) written beside the weights in the same step, so the
     * directory is a self-contained model.
     *
     * @param model the model
     * @param dir the directory to write
     * @param dtype the dtype of floating tensors, or null to keep each one's
     * @param maxShardBytes the largest shard in bytes
     * @param overwrite whether to replace the model files of a directory fulgur did not write
     * @param tokenizerFiles tokenizer files to copy beside the weights
     * @throws java.io.IOException when reading or writing fails
     * @throws IllegalArgumentException when {@code dir} holds files fulgur did not write and {@code overwrite} is off
     */
    public static void save(
            LanguageModel model,
            Path dir,
            DType dtype,
            long maxShardBytes,
            boolean overwrite,
            List<Path> tokenizerFiles)
            throws IOException {
        String json = model.configJson();
        Architecture arch = Architectures.forConfig(json);
        Map<String, Tensor> theirs = arch.toReference(model.module().stateDict(), json);
        DType stored = dtype != null
                ? dtype
                : theirs.values().stream()
                        .filter(t -> t.dtype().isFloating())
                        .map(Tensor::dtype)
                        .findFirst()
                        .orElse(DType.F32);
        String referenceJson = arch.referenceConfig(json, stored);
        List<SafetensorsEntry> entries = new ArrayList<>();
        long total = 0;
        for (var e : theirs.entrySet()) {
            SafetensorsEntry entry = entry(e.getKey(), e.getValue(), dtype);
            total += entry.byteSize();
            entries.add(entry);
        }
        long size = total;
        Map<String, String> meta = Map.of("format", "pt");
        ModelDirectoryWriter.write(dir, overwrite, "fulgur (reference layout)", fresh -> {
            if (size > maxShardBytes) {
                SafetensorsWriter.writeSharded(fresh, entries, meta, maxShardBytes);
            } else {
                SafetensorsWriter.write(fresh.resolve(Safetensors.SINGLE_FILE), entries, meta);
            }
            AtomicFiles.writeString(fresh.resolve(CONFIG), referenceJson);
            TokenizerFiles.copy(tokenizerFiles, fresh);
        });
    }

    private static SafetensorsEntry entry(String name, Tensor t, DType dtype) {
        Tensor host =
                t.device().kind() == Device.Kind.CPU ? t.detach() : t.detach().to(Device.CPU);
        if (dtype != null && host.dtype() != dtype && keepsDtypeChoice(name, host)) {
            host = host.to(dtype);
        }
        Tensor c = host.isContiguous() ? host : host.contiguous();
        long es = c.dtype().byteSize();
        MemorySegment seg = c.hostSegment("save").asSlice(c.offset() * es, c.numel() * es);
        long[] shape = new long[c.shape().length];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = c.shape()[i];
        }
        return new SafetensorsEntry(name, c.dtype().safetensorsName(), shape, seg);
    }

    /**
     * transformers' name of a checkpoint dtype, as config.json's {@code torch_dtype} holds it.
     *
     * @param dtype a floating dtype
     * @return e.g. {@code "bfloat16"}
     * @throws IllegalArgumentException for an integer dtype
     */
    public static String torchDtype(DType dtype) {
        return switch (dtype) {
            case F32 -> "float32";
            case BF16 -> "bfloat16";
            case F16 -> "float16";
            case F64 -> "float64";
            default -> throw new IllegalArgumentException("not a floating-point checkpoint dtype: " + dtype);
        };
    }

    /**
     * Whether a tensor takes the dtype a save asks for: floating ones do, except the scales of int8 weights (f32).
     *
     * @param name the tensor's name
     * @param t the tensor
     * @return true when the save's dtype applies to it
     */
    public static boolean keepsDtypeChoice(String name, Tensor t) {
        return t.dtype().isFloating() && !name.endsWith(Int8Weights.SCALE_SUFFIX);
    }

    /** A run's checkpoint folder, or the {@code .old} copy an interrupted save leaves (as the trainer resumes from). */
    private static Path runCheckpoint(Path run) {
        Path old = run.resolveSibling(run.getFileName() + ".old");
        return Files.isRegularFile(run.resolve(CONFIG)) || !Files.isDirectory(old) ? run : old;
    }
}
