package fulgur.examples;

import fulgur.models.tnl.TnlModel;
import fulgur.serve.Engine;
import fulgur.serve.EngineOptions;
import fulgur.serve.FinishReason;
import fulgur.serve.GenerationRequest;
import fulgur.serve.SamplingParams;
import fulgur.serve.TokenSink;
import fulgur.serve.Usage;
import fulgur.serve.engine.Engines;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Trains the tiny model of {@link TrainTinyTnl}, starts the continuous-batching serving engine around it in this JVM
 * (no HTTP) and completes three prompts at once: they are decoded together, one batched forward per token.
 */
public final class EmbeddedEngine {
    private EmbeddedEngine() {}

    /** One completion: its text, why it stopped and its token counts. */
    public record Completion(String text, FinishReason reason, Usage usage) {}

    public static void main(String[] args) throws Exception {
        Path out = args.length > 0 ? Path.of(args[0]) : Files.createTempDirectory("fulgur-example");
        Tokenizer tokenizer = ByteTokenizer.withEndOfText();
        try (TnlModel model = TrainTinyTnl.train(tokenizer, out);
                Engine engine = Engines.of(model, tokenizer, "tiny-tnl", EngineOptions.defaults())) {
            List<String> prompts = List.of("ROMEO:\n", "First Citizen:\n", "MENENIUS:\n");
            List<CompletableFuture<Completion>> results = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                SamplingParams sampling =
                        new SamplingParams(0.8, 0.95, 0, i); // temperature, top-p, top-k (0: off), seed
                results.add(complete(
                        engine,
                        new GenerationRequest(tokenizer.encode(prompts.get(i)), sampling, 64, List.of(), null)));
            }
            for (int i = 0; i < prompts.size(); i++) {
                Completion c = results.get(i).get();
                System.out.printf(
                        "--- %s, %d prompt + %d generated tokens%n%s%s%n",
                        c.reason(), c.usage().promptTokens(), c.usage().completionTokens(), prompts.get(i), c.text());
            }
        }
    }

    /** Submits {@code request}; the future completes when the engine has generated its last token. */
    public static CompletableFuture<Completion> complete(Engine engine, GenerationRequest request) {
        CompletableFuture<Completion> done = new CompletableFuture<>();
        StringBuilder text = new StringBuilder();
        engine.submit(request, new TokenSink() {
            @Override
            public void onToken(int token, String piece) {
                text.append(piece);
            }

            @Override
            public void onFinish(FinishReason reason, Usage usage) {
                done.complete(new Completion(text.toString(), reason, usage));
            }

            @Override
            public void onError(String message) {
                done.completeExceptionally(new IllegalStateException(message));
            }
        });
        return done;
    }
}
