package fulgur.cli;

import fulgur.io.AtomicFiles;
import fulgur.io.ModelDirectoryWriter;
import fulgur.io.safetensors.TensorIo;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ModelDirectory;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.nn.Int8Weights;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tokenizer.TokenizerFiles;
import fulgur.train.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(
        name = "convert",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Convert a model between fulgur's checkpoint layout and its reference implementation's (Hugging Face) layout.",
            "IN is a training run's output directory, a fulgur checkpoint, or a reference checkpoint (config.json + model.safetensors or a shard index).",
            "Example: fulgur convert runs/shakespeare hf/shakespeare --to reference --dtype bf16 --max-shard-size 2GB",
            "         fulgur convert runs/shakespeare runs/shakespeare-int8 --quantize int8"
        })
public final class ConvertCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "IN", description = "Model to read.")
    Path in;

    @Parameters(
            index = "1",
            paramLabel = "OUT",
            description =
                    "Directory to write: a new or empty one, or one an earlier conversion wrote (its model files are replaced). "
                            + "Never IN or a directory containing IN.")
    Path out;

    @Option(
            names = "--to",
            defaultValue = "reference",
            description =
                    "reference (config.json + safetensors in the reference names, sharded when large) or fulgur (config.json + model.safetensors that 'fulgur generate' and 'fulgur train --init' read). Default: ${DEFAULT-VALUE}.")
    String to;

    @Option(
            names = "--dtype",
            defaultValue = "keep",
            description = "Weights' dtype: keep, f32, bf16 or f16. Default: ${DEFAULT-VALUE}.")
    String dtype;

    @Option(
            names = "--max-shard-size",
            defaultValue = "5GB",
            description = "Largest shard for --to reference (e.g. 500MB, 5GB). Default: ${DEFAULT-VALUE}.")
    String maxShardSize;

    @Option(
            names = "--overwrite",
            description =
                    "Also write into an existing directory that fulgur did not write: its model files "
                            + "(config.json, model*.safetensors, the shard index, and the tokenizer's files where IN has them) are replaced, every other file is kept.")
    boolean overwrite;

    @Option(
            names = "--quantize",
            defaultValue = "none",
            description =
                    "none, or int8: weight-only int8 for every linear layer, one f32 scale per output channel "
                            + "(NAME.weight I8 [out, in] and NAME.weight_scale F32 [out]); embeddings and norms keep --dtype. Loaders keep the weights int8. Default: ${DEFAULT-VALUE}.")
    String quantize;

    @Override
    public Integer call() throws Exception {
        DType d = parseDType(dtype);
        long shard = parseSize(maxShardSize);
        String layout = to.toLowerCase(Locale.ROOT);
        if (!layout.equals("reference") && !layout.equals("fulgur")) {
            throw new IllegalArgumentException("--to must be 'reference' or 'fulgur', got '" + to + "'");
        }
        boolean int8 = switch (quantize.toLowerCase(Locale.ROOT)) {
            case "none" -> false;
            case "int8" -> true;
            default -> throw new IllegalArgumentException("--quantize must be none or int8, got '" + quantize + "'");
        };
        checkPlaces(in, out);
        try (Scope s = Scope.open()) {
            ModelDirectoryWriter.requireWritable(out, overwrite); // before loading: refuse early
            List<Path> tokenizerFiles = TokenizerFiles.in(ModelDirectory.tokenizerRoot(in));
            try (LanguageModel model = ReferenceCheckpoint.load(in)) {
                long before = weightBytes(model);
                if (int8) {
                    Int8Weights.quantizeLinears(model.module());
                }
                if (layout.equals("reference")) {
                    ReferenceCheckpoint.save(model, out, d, shard, overwrite, tokenizerFiles);
                } else {
                    saveFulgur(model, out, d, overwrite, tokenizerFiles);
                }
                System.out.printf(
                        "%s (%,d parameters) → %s (%s layout%s%s)%n",
                        model.describe(),
                        model.parameterCount(),
                        out.toAbsolutePath(),
                        layout,
                        d == null ? "" : ", " + d.name().toLowerCase(Locale.ROOT),
                        int8 ? ", int8 linear layers" : "");
                if (int8) {
                    System.out.printf("weights in memory: %,d bytes → %,d bytes%n", before, weightBytes(model));
                }
            }
        } catch (ModelDirectoryWriter.NotOursException e) {
            throw new IllegalArgumentException(
                    e.getMessage() + ", or pass --overwrite to replace its model files (other files are kept)", e);
        }
        return 0;
    }

    /**
     * OUT must not be IN, contain IN (writing there could replace the input or, for a run, its checkpoint, optimizer
     * state and metrics), or lie inside the training checkpoint the model is read from; nor may it be a file.
     */
    static void checkPlaces(Path in, Path out) throws java.io.IOException {
        Path inAbs = in.toAbsolutePath().normalize();
        Path outAbs = real(out);
        if (inAbs.equals(out.toAbsolutePath().normalize())
                || Files.exists(in) && Files.exists(out) && Files.isSameFile(in, out)) {
            throw new IllegalArgumentException(
                    "IN and OUT are the same directory (" + in + "); write the conversion elsewhere");
        }
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new IllegalArgumentException(
                    "OUT " + out + " is a file, not a directory; choose a directory to write the model into");
        }
        if (!Files.isDirectory(in)) {
            return; // loading reports it
        }
        Path inReal = in.toRealPath();
        if (inReal.startsWith(outAbs)) {
            throw new IllegalArgumentException("OUT " + out + " contains IN " + in
                    + "; a conversion never writes into a directory holding its input: choose one outside it");
        }
        Path source = ReferenceCheckpoint.modelDirectory(in).toRealPath();
        if (outAbs.startsWith(source) && Files.exists(source.resolve(Checkpoint.STATE))) {
            throw new IllegalArgumentException("OUT " + out + " lies inside " + source
                    + ", the training checkpoint being read, which its run replaces as a whole"
                    + " at every save; choose a directory outside it");
        }
    }

    /** The real path of {@code p}, or of its nearest existing ancestor with the rest appended. */
    private static Path real(Path p) throws java.io.IOException {
        Path abs = p.toAbsolutePath().normalize();
        Path existing = abs;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        return existing == null ? abs : existing.toRealPath().resolve(existing.relativize(abs));
    }

    private static void saveFulgur(LanguageModel model, Path out, DType d, boolean overwrite, List<Path> tokenizerFiles)
            throws Exception {
        var state = model.module().stateDict();
        if (d != null) {
            var cast = new java.util.LinkedHashMap<String, fulgur.tensor.Tensor>();
            state.forEach(
                    (k, v) -> cast.put(k, v.dtype() == d || !ReferenceCheckpoint.keepsDtypeChoice(k, v) ? v : v.to(d)));
            state = cast;
        }
        var weights = state;
        ModelDirectoryWriter.write(out, overwrite, "fulgur convert", fresh -> {
            TensorIo.save(fresh.resolve(Checkpoint.MODEL), weights, Map.of("format", "pt"));
            AtomicFiles.writeString(fresh.resolve(Checkpoint.CONFIG), model.configJson());
            TokenizerFiles.copy(tokenizerFiles, fresh);
        });
    }

    private static long weightBytes(LanguageModel model) {
        long n = 0;
        for (var p : model.module().parameters()) {
            n += p.numel() * p.value().dtype().byteSize();
        }
        return n;
    }

    static DType parseDType(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "keep" -> null;
            case "f32", "float32" -> DType.F32;
            case "bf16", "bfloat16" -> DType.BF16;
            case "f16", "float16" -> DType.F16;
            default -> throw new IllegalArgumentException("--dtype must be keep, f32, bf16 or f16, got '" + s + "'");
        };
    }

    static long parseSize(String s) {
        var m = java.util.regex.Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(B|KB|MB|GB|TB)?")
                .matcher(s.trim().toUpperCase(Locale.ROOT));
        if (m.matches() && Double.parseDouble(m.group(1)) > 0) {
            int shift = switch (m.group(2) == null ? "B" : m.group(2)) {
                case "KB" -> 10;
                case "MB" -> 20;
                case "GB" -> 30;
                case "TB" -> 40;
                default -> 0;
            };
            return (long) (Double.parseDouble(m.group(1)) * (1L << shift));
        }
        throw new IllegalArgumentException(
                "--max-shard-size must be a positive size like 500MB or 5GB, got '" + s + "'");
    }
}
