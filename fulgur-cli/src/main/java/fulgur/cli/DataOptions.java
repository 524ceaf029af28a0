package fulgur.cli;

import fulgur.data.Batch;
import fulgur.data.Mqar;
import fulgur.data.PackedSequenceSampler;
import fulgur.data.TextCorpus;
import fulgur.data.TokenShards;
import fulgur.data.TokenStream;
import fulgur.models.hf.ModelDirectory;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import fulgur.tokenizer.TokenizerFiles;
import fulgur.tokenizer.Tokenizers;
import fulgur.train.DataSource;
import fulgur.train.DataSources;
import fulgur.train.Evaluator;
import fulgur.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/** Where training data comes from: text files, token shards, or the MQAR task. */
final class DataOptions {
    @Option(
            names = "--data",
            description =
                    "Text (.txt) or JSONL (\"text\" field) files to train on; for --model leap, an LLP directory.")
    List<Path> data = new ArrayList<>();

    @Option(names = "--shards", description = "A directory of binary token shards (see TokenShards).")
    Path shards;

    @Option(
            names = "--task",
            description =
                    "A built-in task instead of data: mqar, or avvp-synthetic (audio-visual video parsing, for --model leap).")
    String task;

    @Option(
            names = "--tokenizer",
            description =
                    "byte, a Hugging Face tokenizer.json (BPE, Unigram, WordPiece) or a SentencePiece tokenizer.model. "
                            + "Default: the tokenizer of --init's model, else byte.")
    String tokenizer;

    /** The model directory whose tokenizer is the default ({@code --init}), or null. */
    Path tokenizerDefaultFrom;

    @Option(
            names = "--val-fraction",
            defaultValue = "0.1",
            description = "Held-out fraction of text data. Default: ${DEFAULT-VALUE}.")
    double valFraction = 0.1;

    @Option(
            names = "--eval-batches",
            defaultValue = "8",
            description = "Batches per evaluation (text data; 0 = no evaluation). Default: ${DEFAULT-VALUE}.")
    int evalBatches = 8;

    @Option(names = "--mqar-vocab", defaultValue = "64", description = "MQAR vocabulary. Default: ${DEFAULT-VALUE}.")
    int mqarVocab = 64;

    @Option(
            names = "--mqar-pairs",
            defaultValue = "8",
            description = "MQAR key-value pairs per sequence. Default: ${DEFAULT-VALUE}.")
    int mqarPairs = 8;

    /** What a run trains on. */
    record Prepared(
            Tokenizer tokenizer,
            int vocab,
            DataSource train,
            Evaluator eval,
            String description,
            List<Path> tokenizerFiles,
            String tokenizerSource) {}

    boolean isMqar() {
        return task != null && task.equalsIgnoreCase("mqar");
    }

    /**
     * Checks the options without reading the data (which sources, counts, fractions, that the files are there), so
     * that a command refuses them before it creates or locks its output directory.
     */
    void validate() {
        int sources = (data.isEmpty() ? 0 : 1) + (shards == null ? 0 : 1) + (task == null ? 0 : 1);
        if (sources != 1) {
            throw new IllegalArgumentException("give exactly one of --data FILE..., --shards DIR or --task mqar");
        }
        if (evalBatches < 0) {
            throw new IllegalArgumentException("--eval-batches must be >= 0 (0 = no evaluation), got " + evalBatches);
        }
        if (!(valFraction >= 0 && valFraction < 1)) {
            throw new IllegalArgumentException("--val-fraction must be in [0, 1), got " + valFraction);
        }
        if (task != null) {
            if (!isMqar()) {
                throw new IllegalArgumentException("unknown --task '" + task + "' (available: mqar)");
            }
            if (mqarVocab < 1 || mqarPairs < 1) {
                throw new IllegalArgumentException(
                        "--mqar-vocab and --mqar-pairs must be >= 1 (got " + mqarVocab + ", " + mqarPairs + ")");
            }
            return;
        }
        for (Path p : data) {
            if (Files.isDirectory(p)) {
                throw new IllegalArgumentException(
                        "--data: " + p + " is a directory; give text or JSONL files (token shards: --shards DIR)");
            }
            if (!Files.isRegularFile(p)) {
                throw new IllegalArgumentException("--data: no such file: " + p);
            }
            if (!Files.isReadable(p)) {
                throw new IllegalArgumentException("--data: " + p + ": permission denied");
            }
        }
    }

    Prepared prepare(int batch, int seqLen, long seed) throws IOException {
        return prepare(batch, seqLen, seed, 0);
    }

    /** The data; held-out sequences longer than {@code seqChunk} tokens are evaluated in chunks (0: whole). */
    Prepared prepare(int batch, int seqLen, long seed, int seqChunk) throws IOException {
        validate();
        if (task != null) {
            Mqar mqar = new Mqar(Mqar.Config.of(mqarVocab, seqLen, mqarPairs));
            long heldRows = Math.max(64, (long) batch * evalBatches);
            if (heldRows * seqLen > fulgur.train.TrainConfig.MAX_BATCH_TOKENS) {
                throw new IllegalArgumentException("--eval-batches " + evalBatches + " × --batch-size " + batch
                        + " × --seq-len " + seqLen + " held-out tokens is more than one batch can hold");
            }
            Batch held = mqar.batch(seed + 1_000_003, 0, (int) heldRows);
            return new Prepared(
                    null,
                    mqarVocab,
                    DataSources.mqar(mqar, seed, batch),
                    mqarEvaluator(held, mqarVocab),
                    "MQAR: vocabulary " + mqarVocab + ", " + mqarPairs + " key-value pairs, length " + seqLen,
                    List.of(),
                    null);
        }
        Tokenizer tok = tokenizer();
        TokenStream trainTokens;
        TokenStream valTokens;
        String what;
        if (shards != null) {
            TokenShards all = TokenShards.open(shards, tok.vocabSize());
            trainTokens = all;
            valTokens = all;
            what = "token shards " + shards + " (" + all.size() + " tokens)";
        } else {
            TextCorpus corpus =
                    TextCorpus.load(data, tok, TextCorpus.Options.defaults().withValidationFraction(valFraction));
            trainTokens = corpus.train();
            valTokens = corpus.validation();
            what = data + ": " + corpus.size() + " tokens (" + trainTokens.size() + " train, " + valTokens.size()
                    + " validation)";
        }
        if (trainTokens.size() <= seqLen + 1L) {
            throw new IllegalArgumentException(
                    "training data has " + trainTokens.size() + " tokens, fewer than one sequence of " + (seqLen + 1L));
        }
        List<Batch> val = new ArrayList<>();
        if (valTokens.size() > (long) batch * (seqLen + 1L)) {
            PackedSequenceSampler s = PackedSequenceSampler.sequential(valTokens, batch, seqLen);
            for (int i = 0; i < evalBatches && s.hasNext(); i++) {
                val.add(s.next());
            }
        }
        return new Prepared(
                tok,
                tok.vocabSize(),
                DataSources.packed(trainTokens, batch, seqLen, seed),
                val.isEmpty() ? null : Trainer.lossOn(val, seqChunk),
                what,
                tokenizerFiles(),
                tokenizerSource());
    }

    /** The tokenizer: --tokenizer, else --init's model's (its files, or byte-level when it has none), else byte-level. */
    Tokenizer tokenizer() throws IOException {
        if (tokenizer == null) {
            return tokenizerDefaultFrom != null
                    ? ModelDirectory.tokenizer(tokenizerDefaultFrom)
                    : ByteTokenizer.withEndOfText();
        }
        return Tokenizers.parse(tokenizer, "--tokenizer");
    }

    /** The tokenizer's files, which every checkpoint of the run carries (none for byte-level). */
    List<Path> tokenizerFiles() {
        if (tokenizer == null) {
            return tokenizerDefaultFrom == null
                    ? List.of()
                    : TokenizerFiles.in(ModelDirectory.tokenizerRoot(tokenizerDefaultFrom));
        }
        return tokenizer.equals(Tokenizers.BYTE) ? List.of() : TokenizerFiles.companions(Path.of(tokenizer));
    }

    /** Where the tokenizer comes from, for messages. */
    String tokenizerSource() {
        if (tokenizer != null) {
            return tokenizer.equals(Tokenizers.BYTE)
                    ? "the byte-level tokenizer (--tokenizer byte)"
                    : "the tokenizer " + tokenizer;
        }
        if (tokenizerDefaultFrom != null && ModelDirectory.tokenizerRoot(tokenizerDefaultFrom) != null) {
            return "the tokenizer of " + ModelDirectory.tokenizerRoot(tokenizerDefaultFrom);
        }
        return tokenizerDefaultFrom != null
                ? "the byte-level tokenizer (" + tokenizerDefaultFrom + " has no tokenizer files)"
                : "the byte-level tokenizer";
    }

    /** MQAR recall accuracy (over queried positions) and loss on a fixed held-out batch. */
    static Evaluator mqarEvaluator(Batch held, int vocab) {
        return m -> {
            try (Scope s = Scope.open()) {
                fulgur.tensor.Device d = m.module().device();
                Tensor logits = m.forward(Tensor.ofInts(held.inputs(), held.batch(), held.seqLen())
                        .to(d));
                Tensor loss = fulgur.ops.Losses.crossEntropy(
                        logits.reshape(-1, vocab),
                        Tensor.ofInts(held.targets(), held.batch() * held.seqLen())
                                .to(d));
                Map<String, Double> r = new LinkedHashMap<>();
                r.put("loss", loss.item());
                r.put("accuracy", Mqar.accuracy(held, logits.toFloatArray(), vocab));
                return r;
            }
        };
    }
}
