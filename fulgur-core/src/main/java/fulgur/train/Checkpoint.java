package fulgur.train;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import fulgur.io.AtomicFiles;
import fulgur.io.Json;
import fulgur.io.MalformedFileException;
import fulgur.io.safetensors.TensorIo;
import fulgur.models.CausalLM;
import fulgur.optim.Optimizer;
import fulgur.tensor.Finite;
import fulgur.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A training checkpoint directory: {@code model.safetensors} (weights, Hugging Face names), {@code config.json},
 * {@code optimizer.safetensors} and {@code trainer_state.json} (step, data position, RNG, settings). A checkpoint is
 * written into a fresh sibling directory and swapped in by renames, so an interrupted save never leaves a
 * half-written checkpoint: either the old one or the new one is there (the old one as {@code NAME.old} during the
 * swap, which {@link #resolve} also finds).
 */
public final class Checkpoint {
    /** The weights, in the reference implementation's tensor names. */
    public static final String MODEL = "model.safetensors";
    /** The model's config, in the reference implementation's field names. */
    public static final String CONFIG = "config.json";
    /** The optimizer's state (AdamW moments). */
    public static final String OPTIMIZER = "optimizer.safetensors";
    /** The step, tokens seen, data position and training settings. */
    public static final String STATE = "trainer_state.json";

    private Checkpoint() {}

    /**
     * Saves {@code model}'s weights and config, the optimizer's state (unless null) and the trainer state into {@code
     * dir}, replacing what was there only once everything is written.
     *
     * @param dir the checkpoint directory, replaced as a whole
     * @param model the model
     * @param optimizer the optimizer, or null
     * @param trainerState the step, data position and settings (JSON values)
     * @throws java.io.IOException when writing fails
     * @throws IllegalStateException when a weight or optimizer tensor is not finite (nothing is replaced)
     */
    public static void save(Path dir, CausalLM model, Optimizer optimizer, Map<String, Object> trainerState)
            throws IOException {
        save(dir, model.module().stateDict(), model.configJson(), optimizer, trainerState);
    }

    /**
     * Saves {@code weights} (e.g. the f32 masters of a mixed-precision model) under the model's config. Weights or
     * optimizer state holding NaN or an infinity are refused (checked on the host copies the files are written from):
     * the last good checkpoint stays.
     *
     * @param dir the checkpoint directory, replaced as a whole
     * @param weights the weights by name
     * @param configJson the model's config.json text
     * @param optimizer the optimizer, or null
     * @param trainerState the step, data position and settings (JSON values)
     * @throws java.io.IOException when writing fails
     * @throws IllegalStateException when a weight or optimizer tensor is not finite (nothing is replaced)
     */
    public static void save(
            Path dir,
            Map<String, Tensor> weights,
            String configJson,
            Optimizer optimizer,
            Map<String, Object> trainerState)
            throws IOException {
        save(dir, weights, configJson, optimizer, trainerState, Map.of(), List.of());
    }

    /**
     * The same, with {@code companions} (the tokenizer's files, {@link fulgur.tokenizer.TokenizerFiles}) copied in, so
     * the checkpoint is a self-contained model directory.
     *
     * @param dir the checkpoint directory, replaced as a whole
     * @param weights the weights by name
     * @param configJson the model's config.json text
     * @param optimizer the optimizer, or null
     * @param trainerState the step, data position and settings (JSON values)
     * @param companions files to copy in
     * @throws java.io.IOException when reading or writing fails
     * @throws IllegalStateException when a weight or optimizer tensor is not finite (nothing is replaced)
     */
    public static void save(
            Path dir,
            Map<String, Tensor> weights,
            String configJson,
            Optimizer optimizer,
            Map<String, Object> trainerState,
            List<Path> companions)
            throws IOException {
        save(dir, weights, configJson, optimizer, trainerState, Map.of(), companions);
    }

    /**
     * The same, with more tensor files in the same directory, swapped in with the rest (e.g. a distributed trainer's
     * per-rank state), by file name, and {@code companions} copied in.
     *
     * @param dir the checkpoint directory, replaced as a whole
     * @param weights the weights by name
     * @param configJson the model's config.json text
     * @param optimizer the optimizer, or null
     * @param trainerState the step, data position and settings (JSON values)
     * @param extraFiles more safetensors files: tensors by name, by file name
     * @param companions files to copy in
     * @throws java.io.IOException when reading or writing fails
     * @throws IllegalStateException when a weight or optimizer tensor is not finite (nothing is replaced)
     */
    public static void save(
            Path dir,
            Map<String, Tensor> weights,
            String configJson,
            Optimizer optimizer,
            Map<String, Object> trainerState,
            Map<String, Map<String, Tensor>> extraFiles,
            List<Path> companions)
            throws IOException {
        String step = String.valueOf(trainerState.get("step"));
        Path parent = dir.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path fresh = parent.resolve(dir.getFileName() + ".new");
        deleteTree(fresh);
        Files.createDirectories(fresh);
        String part = "weights ";
        try {
            TensorIo.save(fresh.resolve(MODEL), weights, Map.of("format", "pt", "step", step), true);
            AtomicFiles.writeString(fresh.resolve(CONFIG), configJson);
            if (optimizer != null) {
                part = "optimizer state ";
                TensorIo.save(
                        fresh.resolve(OPTIMIZER),
                        optimizer.state(),
                        Map.of("step", step, "optimizer_step", Long.toString(optimizer.stepCount())),
                        true);
            }
            for (Map.Entry<String, Map<String, Tensor>> f : extraFiles.entrySet()) {
                part = f.getKey() + " ";
                TensorIo.save(fresh.resolve(f.getKey()), f.getValue(), Map.of("step", step), true);
            }
            AtomicFiles.writeString(
                    fresh.resolve(STATE),
                    Json.mapper().writerWithDefaultPrettyPrinter().writeValueAsString(trainerState));
            fulgur.tokenizer.TokenizerFiles.copy(companions, fresh);
        } catch (Finite.NonFiniteException e) {
            deleteTree(fresh);
            throw new IllegalStateException(
                    "not saving the checkpoint of step " + step + " to " + dir + ": " + part + e.getMessage()
                            + (Files.exists(dir) ? " (the previous checkpoint is kept)" : ""),
                    e);
        } catch (IOException | RuntimeException e) {
            deleteTree(fresh);
            throw e;
        }
        Path old = parent.resolve(dir.getFileName() + ".old");
        deleteTree(old);
        if (Files.exists(dir)) {
            Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
        }
        Files.move(fresh, dir, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(old);
    }

    /**
     * The checkpoint directory to resume from: {@code dir}, or its {@code .old} copy left by an interrupted swap.
     *
     * @param dir the checkpoint directory
     * @return the directory to read
     * @throws IllegalArgumentException when neither holds a checkpoint
     */
    public static Path resolve(Path dir) {
        if (Files.isRegularFile(dir.resolve(STATE))) {
            return dir;
        }
        Path old = dir.resolveSibling(dir.getFileName() + ".old");
        if (Files.isRegularFile(old.resolve(STATE))) {
            return old;
        }
        throw new IllegalArgumentException("no checkpoint at " + dir + " (expected " + STATE + " there)");
    }

    /**
     * Restores weights and optimizer state; returns the trainer state map. Mismatches are errors naming the file.
     *
     * @param dir the checkpoint directory
     * @param model the model to load into
     * @param optimizer the optimizer to restore, or null
     * @return the trainer state
     * @throws java.io.IOException when a file cannot be read
     * @throws IllegalArgumentException when the checkpoint does not fit the model or optimizer, naming the file
     */
    public static Map<String, Object> load(Path dir, CausalLM model, Optimizer optimizer) throws IOException {
        return loadInto(dir, model.module(), optimizer);
    }

    /**
     * {@link #load(Path, CausalLM, Optimizer)} for any module (models that are not language models).
     *
     * @param dir the checkpoint directory
     * @param module the module to load into
     * @param optimizer the optimizer to restore, or null
     * @return the trainer state
     * @throws java.io.IOException when a file cannot be read
     * @throws IllegalArgumentException when the checkpoint does not fit the module or optimizer, naming the file
     */
    public static Map<String, Object> loadInto(Path dir, fulgur.nn.Module module, Optimizer optimizer)
            throws IOException {
        Path d = resolve(dir);
        Map<String, Object> state = readState(d);
        String step = String.valueOf(state.get("step"));
        TensorIo.Loaded weights = TensorIo.load(d.resolve(MODEL));
        checkStep(d.resolve(MODEL), weights.metadata(), step);
        try {
            module.loadStateDict(weights.tensors(), true);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(d.resolve(MODEL) + ": " + e.getMessage(), e);
        }
        if (optimizer != null) {
            loadOptimizer(d, optimizer, step);
        }
        return state;
    }

    /**
     * The trainer state of checkpoint {@code dir} ({@link #resolve}d), checked: a JSON object with a non-negative integer
     * {@code step} and, when present, an object {@code data}. Errors name the file.
     *
     * @param dir the checkpoint directory
     * @return the state, JSON values by key
     * @throws java.io.IOException when the file cannot be read
     * @throws fulgur.io.MalformedFileException when it is not such an object
     */
    public static Map<String, Object> readState(Path dir) throws IOException {
        Path file = resolve(dir).resolve(STATE);
        JsonNode node = Json.read(file);
        if (!node.isObject()) {
            throw new MalformedFileException(file, "expected a JSON object, found " + node.getNodeType());
        }
        JsonNode step = node.get("step");
        if (step == null || !step.isIntegralNumber() || !step.canConvertToLong() || step.asLong() < 0) {
            throw new MalformedFileException(file, "\"step\" must be a non-negative integer, found " + step);
        }
        JsonNode data = node.get("data");
        if (data != null && !data.isObject()) {
            throw new MalformedFileException(file, "\"data\" must be an object, found " + data.getNodeType());
        }
        return Json.mapper().convertValue(node, new TypeReference<LinkedHashMap<String, Object>>() {});
    }

    /**
     * Restores only the optimizer state (after the weights, when the optimizer is built later, e.g. over f32 masters).
     *
     * @param dir the checkpoint directory
     * @param optimizer the optimizer to restore
     * @param step the checkpoint's step, for messages
     * @throws java.io.IOException when the file cannot be read
     * @throws IllegalArgumentException when the state is missing, mis-shaped or not finite
     */
    public static void loadOptimizer(Path dir, Optimizer optimizer, String step) throws IOException {
        Path d = resolve(dir);
        TensorIo.Loaded opt = TensorIo.load(d.resolve(OPTIMIZER));
        checkStep(d.resolve(OPTIMIZER), opt.metadata(), step);
        String bad = Finite.describeFirst(opt.tensors());
        if (bad != null) {
            throw new IllegalArgumentException(d.resolve(OPTIMIZER) + ": non-finite optimizer state: " + bad);
        }
        optimizer.loadState(opt.tensors(), Long.parseLong(opt.metadata().getOrDefault("optimizer_step", step)));
    }

    private static void checkStep(Path file, Map<String, String> meta, String step) {
        String got = meta.get("step");
        if (got != null && !got.equals(step)) {
            throw new IllegalArgumentException(file + " was written at step " + got + " but " + STATE + " says step "
                    + step + ": the checkpoint is inconsistent");
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path x : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(x);
            }
        }
    }
}
