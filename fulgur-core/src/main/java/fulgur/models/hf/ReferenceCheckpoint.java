package fulgur.models.hf;

import fulgur.io.AtomicFiles;
import fulgur.io.TensorIo;
import fulgur.io.safetensors.Safetensors;
import fulgur.io.safetensors.SafetensorsEntry;
import fulgur.io.safetensors.SafetensorsWriter;
import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Checkpoints in the layout of each architecture's reference implementation (Hugging Face): a directory with
 * {@code config.json} and either {@code model.safetensors} or sharded {@code model-0000i-of-0000n.safetensors} with
 * {@code model.safetensors.index.json}, tensors named as the reference code names them. Loading picks the
 * architecture from config.json's {@code model_type}, maps names through {@link Architecture#fromReference} and
 * checks every tensor: missing, unexpected and mis-shaped ones are listed together in one error.
 */
public final class ReferenceCheckpoint {

    public static final String CONFIG = "config.json";

    private ReferenceCheckpoint() {}

    /**
     * Builds the model of {@code dir}'s config.json and loads its weights (converted to the model's dtype). {@code dir}
     * is a reference checkpoint, a fulgur checkpoint ({@code .../checkpoint}) or a training run's output directory
     * (its {@code checkpoint/} is used); tensors named as our modules name them load directly, others through the
     * architecture's {@link Architecture#fromReference}.
     */
    public static LanguageModel load(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("no model at " + dir + ": not a directory");
        }
        Path run = dir.resolve("checkpoint");
        if (Files.isDirectory(run) || Files.isDirectory(run.resolveSibling("checkpoint.old"))) {
            dir = fulgur.train.Checkpoint.resolve(run);
        }
        Path config = dir.resolve(CONFIG);
        if (!Files.isRegularFile(config)) {
            throw new IllegalArgumentException(dir + ": no " + CONFIG + " (a reference checkpoint directory holds config.json and model.safetensors or its shard index)");
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

    /** Loads {@code dir}'s safetensors (single or sharded) into {@code model}, strictly. */
    public static void loadWeights(Path dir, Architecture arch, String configJson, LanguageModel model) throws IOException {
        try (Safetensors st = Safetensors.open(dir)) {
            Map<String, Tensor> theirs = new LinkedHashMap<>();
            for (SafetensorsEntry e : st.entries()) {
                theirs.put(e.name(), TensorIo.toTensor(e, dir));
            }
            Map<String, Tensor> ours = theirs.keySet().equals(model.module().namedParameters().keySet()) ? theirs : arch.fromReference(theirs, configJson);
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
     * sharded with an index when larger than {@code maxShardBytes}. Files are written to a fresh sibling directory and
     * swapped in, so a failure leaves {@code dir} as it was.
     */
    public static void save(LanguageModel model, Path dir, DType dtype, long maxShardBytes) throws IOException {
        String json = model.configJson();
        Architecture arch = Architectures.forConfig(json);
        Map<String, Tensor> theirs = arch.toReference(model.module().stateDict(), json);
        DType stored = dtype != null ? dtype : theirs.values().stream().filter(t -> t.dtype().isFloating()).map(Tensor::dtype).findFirst().orElse(DType.F32);
        String referenceJson = arch.referenceConfig(json, stored);
        List<SafetensorsEntry> entries = new ArrayList<>();
        long total = 0;
        for (var e : theirs.entrySet()) {
            SafetensorsEntry entry = entry(e.getKey(), e.getValue(), dtype);
            total += entry.byteSize();
            entries.add(entry);
        }
        Path parent = dir.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path fresh = parent.resolve(dir.getFileName() + ".partial");
        deleteTree(fresh);
        Files.createDirectories(fresh);
        Map<String, String> meta = Map.of("format", "pt");
        try {
            if (total > maxShardBytes) {
                SafetensorsWriter.writeSharded(fresh, entries, meta, maxShardBytes);
            } else {
                SafetensorsWriter.write(fresh.resolve(Safetensors.SINGLE_FILE), entries, meta);
            }
            AtomicFiles.writeString(fresh.resolve(CONFIG), referenceJson);
        } catch (RuntimeException | IOException e) {
            deleteTree(fresh);
            throw e;
        }
        Path old = parent.resolve(dir.getFileName() + ".replaced");
        deleteTree(old);
        if (Files.exists(dir)) {
            Files.move(dir, old);
        }
        Files.move(fresh, dir);
        deleteTree(old);
    }

    private static SafetensorsEntry entry(String name, Tensor t, DType dtype) {
        Tensor host = t.device().kind() == Device.Kind.CPU ? t.detach() : t.detach().to(Device.CPU);
        if (dtype != null && host.dtype() != dtype) {
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

    /** transformers' name of a checkpoint dtype, as config.json's {@code torch_dtype} holds it. */
    public static String torchDtype(DType dtype) {
        return switch (dtype) {
            case F32 -> "float32";
            case BF16 -> "bfloat16";
            case F16 -> "float16";
            case F64 -> "float64";
            default -> throw new IllegalArgumentException("not a floating-point checkpoint dtype: " + dtype);
        };
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (var walk = Files.walk(p)) {
            for (Path x : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(x);
            }
        }
    }
}
