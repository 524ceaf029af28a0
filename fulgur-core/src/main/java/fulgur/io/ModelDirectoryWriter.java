package fulgur.io;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Writing a model directory (config.json and safetensors, single or sharded with an index) without ever deleting
 * what fulgur did not write. The files are written into a fresh hidden sibling directory first, so a failure leaves
 * the target as it was. The target must then be absent or empty (the fresh directory is renamed into place), or a
 * directory fulgur wrote before, which {@value #MARKER} marks; any other non-empty directory is refused unless
 * {@code overwrite} is given. Besides the model files a model directory may carry its tokenizer's files (companion
 * files, Hugging Face names). Replacing an existing directory moves the new files in one by one (each rename is
 * atomic) and removes the model files of the old set that the new one lacks (stale shards), and the companion files
 * an earlier write put there that the new set lacks (a tokenizer that belonged to the old model); every other file
 * in it (a tokenizer fulgur did not write among them) is left alone.
 */
public final class ModelDirectoryWriter {

    /** The file that marks a directory as written by fulgur. */
    public static final String MARKER = ".fulgur-model.json";

    private static final Pattern MODEL_FILE = Pattern.compile(
            "config\\.json|model\\.safetensors|model\\.safetensors\\.index\\.json|model-\\d+-of-\\d+\\.safetensors|"
                    + Pattern.quote(MARKER));

    /** The tokenizer's files (fulgur.tokenizer.TokenizerFiles.NAMES, which this package cannot depend on). */
    private static final Pattern COMPANION_FILE =
            Pattern.compile("tokenizer\\.json|tokenizer\\.model|tokenizer_config\\.json|special_tokens_map\\.json");

    private ModelDirectoryWriter() {}

    /**
     * Whether {@code name} is one of the files a model directory consists of (the only files replacing one removes).
     *
     * @param name a file name
     * @return true for a model file
     */
    public static boolean isModelFile(String name) {
        return MODEL_FILE.matcher(name).matches();
    }

    /**
     * Whether {@code name} is a file a model directory may carry beside its model files: one of its tokenizer's.
     *
     * @param name a file name
     * @return true for a companion file
     */
    public static boolean isCompanionFile(String name) {
        return COMPANION_FILE.matcher(name).matches();
    }

    /**
     * Writes {@code dir} through {@code body}, which fills the directory it is given with model files and companion
     * files; {@code writer} (e.g. "fulgur convert") and the files are recorded in the marker.
     *
     * @param dir the model directory, replaced as a whole once the body returns
     * @param overwrite whether to replace a directory fulgur did not write (its model files only)
     * @param writer the writing command, recorded
     * @param body fills the directory it is given
     * @throws java.io.IOException when writing fails (the directory is then unchanged)
     * @throws IllegalArgumentException when {@code dir} is the root or a file, or holds files fulgur did not write
     *     and {@code overwrite} is off
     * @throws IllegalStateException when the body writes a file that is neither a model nor a companion file
     */
    public static void write(Path dir, boolean overwrite, String writer, IoConsumer<Path> body) throws IOException {
        Path target = dir.toAbsolutePath().normalize();
        State state = check(dir, overwrite);
        Path parent = target.getParent();
        if (parent == null) {
            throw new IllegalArgumentException(dir + ": cannot write a model at the file-system root");
        }
        Files.createDirectories(parent);
        Path fresh = parent.resolve("." + target.getFileName() + ".partial-"
                + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()));
        Files.createDirectory(fresh);
        try {
            body.accept(fresh);
            List<String> names = new ArrayList<>();
            try (Stream<Path> files = Files.list(fresh)) {
                for (Path f : files.sorted().toList()) {
                    String name = f.getFileName().toString();
                    if (!Files.isRegularFile(f) || !isModelFile(name) && !isCompanionFile(name)) {
                        throw new IllegalStateException(
                                "a model directory holds only model and tokenizer files, but " + name + " was written");
                    }
                    names.add(name);
                }
            }
            Map<String, Object> marker = new LinkedHashMap<>();
            marker.put("written_by", writer);
            marker.put("files", names);
            Json.write(fresh.resolve(MARKER), marker);
            names.add(MARKER);
            if (state == State.ABSENT || state == State.EMPTY) {
                if (state == State.EMPTY) {
                    Files.delete(target); // empty: fails rather than delete anything that appeared meanwhile
                }
                Files.move(fresh, target, StandardCopyOption.ATOMIC_MOVE);
                AtomicFiles.forceDirectory(parent);
                return;
            }
            List<String> writtenBefore = state == State.OURS ? markedFiles(target.resolve(MARKER)) : List.of();
            for (String name : names) {
                Files.move(
                        fresh.resolve(name),
                        target.resolve(name),
                        StandardCopyOption.ATOMIC_MOVE,
                        StandardCopyOption.REPLACE_EXISTING);
            }
            try (Stream<Path> files = Files.list(target)) {
                for (Path f : files.toList()) {
                    String name = f.getFileName().toString();
                    boolean stale = isModelFile(name) || isCompanionFile(name) && writtenBefore.contains(name);
                    if (stale && !names.contains(name) && Files.isRegularFile(f)) {
                        Files.delete(f); // a shard or index of the replaced model, or the tokenizer written with it
                    }
                }
            }
            AtomicFiles.forceDirectory(target);
        } finally {
            deleteOwnTree(fresh);
        }
    }

    /**
     * Throws as {@link #write} would for {@code dir}: for callers that check before expensive work.
     *
     * @param dir the model directory
     * @param overwrite whether to replace a directory fulgur did not write
     * @throws java.io.IOException when the directory cannot be read
     * @throws IllegalArgumentException as {@link #write} would
     */
    public static void requireWritable(Path dir, boolean overwrite) throws IOException {
        check(dir, overwrite);
    }

    /** The target is a non-empty directory fulgur did not write, and overwriting it was not asked for. */
    public static final class NotOursException extends IllegalArgumentException {
        NotOursException(String message) {
            super(message);
        }
    }

    private enum State {
        ABSENT,
        EMPTY,
        OURS,
        FOREIGN
    }

    /** What {@code dir} is now; throws when it may not be written. */
    private static State check(Path dir, boolean overwrite) throws IOException {
        if (!Files.exists(dir)) {
            return State.ABSENT;
        }
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException(
                    dir + " is a file, not a directory; choose a directory to write the model into");
        }
        List<String> foreign = new ArrayList<>();
        boolean any;
        try (Stream<Path> files = Files.list(dir)) {
            List<Path> all = files.toList();
            any = !all.isEmpty();
            for (Path f : all) {
                String name = f.getFileName().toString();
                if (!isModelFile(name) || !Files.isRegularFile(f)) {
                    foreign.add(name + (Files.isDirectory(f) ? "/" : ""));
                }
            }
        }
        if (!any) {
            return State.EMPTY;
        }
        if (isMarked(dir.resolve(MARKER))) {
            return State.OURS;
        }
        if (!overwrite) {
            foreign.sort(Comparator.naturalOrder());
            try (Stream<Path> files = Files.list(dir)) {
                long n = files.count();
                throw new NotOursException(dir + " already exists and holds " + n + " file(s) fulgur did not write"
                        + (foreign.isEmpty()
                                ? ""
                                : " (e.g. " + String.join(", ", foreign.subList(0, Math.min(3, foreign.size()))) + ")")
                        + "; write to a new or empty directory");
            }
        }
        return State.FOREIGN;
    }

    private static boolean isMarked(Path marker) {
        if (!Files.isRegularFile(marker)) {
            return false;
        }
        try {
            JsonNode n = Json.read(marker);
            return n.isObject() && n.hasNonNull("written_by");
        } catch (IOException e) {
            return false;
        }
    }

    /** The files a marker lists as written with it (none when it cannot be read). */
    private static List<String> markedFiles(Path marker) {
        try {
            List<String> out = new ArrayList<>();
            Json.read(marker).path("files").forEach(n -> out.add(n.asText()));
            return out;
        } catch (IOException e) {
            return List.of();
        }
    }

    /** Deletes a directory this class created (the fresh one): only what it put there. */
    private static void deleteOwnTree(Path p) throws IOException {
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
