package fulgur.cli;

import fulgur.cli.report.ProgressBar;
import fulgur.eval.Documents;
import fulgur.eval.Perplexity;
import fulgur.io.Json;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "perplexity",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Per-token loss, perplexity and bits per byte of a model on a text or JSONL file of any length.",
            "The file is streamed through the model's recurrent state in chunks, so memory stays constant however long it is; "
                    + "models with softmax layers read through a sliding window of --window tokens.",
            "Example: fulgur eval perplexity --model-dir runs/shakespeare --data valid.txt --json"
        })
public final class EvalPerplexityCommand implements Callable<Integer> {
    @Option(
            names = "--model-dir",
            required = true,
            paramLabel = "DIR",
            description = "A training output directory, a checkpoint, or a reference checkpoint.")
    Path dir;

    @Option(
            names = "--data",
            required = true,
            paramLabel = "FILE",
            description = "Text, or JSON Lines (.jsonl: one document per line in a \"text\" field).")
    Path data;

    @Option(
            names = "--field",
            defaultValue = "text",
            description = "The JSONL field holding the text. Default: ${DEFAULT-VALUE}.")
    String field;

    @Option(
            names = "--chunk",
            defaultValue = "512",
            description = "Tokens per forward pass. Default: ${DEFAULT-VALUE}.")
    int chunk;

    @Option(
            names = "--window",
            defaultValue = "2048",
            description =
                    "Softmax layers: the most tokens of context (each token sees at least window - chunk). Default: ${DEFAULT-VALUE}.")
    int window;

    @Option(names = "--max-tokens", description = "Stop after this many predicted tokens.")
    Long maxTokens;

    @Option(
            names = "--tokenizer",
            description = "byte, a tokenizer.json or tokenizer.model (default: the model directory's).")
    String tokenizer;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N. Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--json", description = "Print the result as one JSON object (progress goes to stderr).")
    boolean json;

    @Override
    public Integer call() throws Exception {
        Perplexity.Settings settings = new Perplexity.Settings(chunk, window);
        if (!Files.isRegularFile(data)) {
            throw new IllegalArgumentException("--data: no such file: " + data);
        }
        PrintStream log = json ? System.err : System.out;
        long size = Files.size(data);
        try (EvalModel m = EvalModel.open(dir, tokenizer, device);
                Documents docs = Documents.open(data, field, 1 << 16)) {
            log.println("model: " + m.model().describe() + "; tokenizer: " + m.tokenizer());
            Perplexity.Result r;
            var bar = ProgressBar.builder(size, log).label("perplexity").build();
            try (bar) {
                java.util.Iterator<Documents.Piece> text = docs;
                if (maxTokens != null) {
                    text = new Stop(docs, maxTokens);
                }
                Stop stop = text instanceof Stop st ? st : null;
                r = Perplexity.evaluate(m.model(), m.tokenizer(), text, settings, so -> {
                    bar.update(Math.min(size, so.bytes()), so.tokens(), so.lossPerToken());
                    if (stop != null) {
                        stop.tokens = so.tokens();
                    }
                });
            }
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("model_dir", dir.toString());
            out.put("data", data.toString());
            out.put("tokens", r.tokens());
            out.put("bytes", r.bytes());
            out.put("loss", r.lossPerToken());
            out.put("perplexity", r.perplexity());
            out.put("bits_per_byte", r.bitsPerByte());
            out.put("chunk", chunk);
            out.put("window_rebuilds", r.windowRebuilds());
            if (r.windowRebuilds() > 0) {
                out.put("window", window);
            }
            if (json) {
                System.out.println(Json.mapper()
                        .writer()
                        .without(com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT)
                        .writeValueAsString(out));
            } else {
                System.out.printf(
                        "tokens %,d (%,d bytes) | loss %.4f nats/token | perplexity %.3f | %.4f bits per byte%s%n",
                        r.tokens(),
                        r.bytes(),
                        r.lossPerToken(),
                        r.perplexity(),
                        r.bitsPerByte(),
                        r.windowRebuilds() > 0 ? " | softmax layers: sliding window of " + window + " tokens" : "");
            }
        }
        return 0;
    }

    /** Ends the text once the evaluation has predicted enough tokens (checked between pieces). */
    private static final class Stop implements java.util.Iterator<Documents.Piece> {
        final java.util.Iterator<Documents.Piece> in;
        final long limit;
        long tokens;

        Stop(java.util.Iterator<Documents.Piece> in, long limit) {
            this.in = in;
            this.limit = limit;
        }

        @Override
        public boolean hasNext() {
            return tokens < limit && in.hasNext();
        }

        @Override
        public Documents.Piece next() {
            return in.next();
        }
    }
}
