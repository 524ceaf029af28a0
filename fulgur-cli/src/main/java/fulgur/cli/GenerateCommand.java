package fulgur.cli;

import fulgur.generate.Generator;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ModelDirectory;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.tokenizer.Tokenizer;
import fulgur.tokenizer.Tokenizers;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "generate",
        mixinStandardHelpOptions = true,
        description = {
            "Generate text from a trained model with recurrent decoding (constant memory per sequence).",
            "Example: fulgur generate --model-dir runs/train --prompt 'ROMEO:' --max-tokens 200"
        })
public final class GenerateCommand implements Callable<Integer> {
    @Option(
            names = "--model-dir",
            required = true,
            description =
                    "A training output directory, its checkpoint directory, or a reference (Hugging Face) checkpoint directory.")
    Path dir;

    @Option(names = "--prompt", defaultValue = "", description = "Prompt text.")
    String prompt;

    @Option(
            names = "--max-tokens",
            defaultValue = "200",
            description = "Tokens to generate. Default: ${DEFAULT-VALUE}.")
    int maxTokens;

    @Option(
            names = "--temperature",
            defaultValue = "0.8",
            description = "Sampling temperature (0 = greedy). Default: ${DEFAULT-VALUE}.")
    double temperature;

    @Option(
            names = "--top-k",
            defaultValue = "0",
            description = "Keep the k most likely tokens (0 = all). Default: ${DEFAULT-VALUE}.")
    int topK;

    @Option(
            names = "--top-p",
            defaultValue = "1.0",
            description = "Nucleus sampling threshold. Default: ${DEFAULT-VALUE}.")
    double topP;

    @Option(names = "--seed", defaultValue = "0", description = "Sampling seed. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--stop", description = "Stop when this string appears (repeatable).")
    List<String> stop = new ArrayList<>();

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N. Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(
            names = "--tokenizer",
            description =
                    "byte, a tokenizer.json or a SentencePiece tokenizer.model (default: the model directory's tokenizer, else byte).")
    String tokenizer;

    @Override
    public Integer call() throws Exception {
        try (LanguageModel model = ReferenceCheckpoint.load(dir)) {
            Tokenizer tok = tokenizer(dir, tokenizer, model.vocabSize());
            fulgur.tensor.Device d = fulgur.tensor.Device.parse(device);
            if (d.kind() != fulgur.tensor.Device.Kind.CPU) {
                model.module().to(d);
            }
            Generator.Settings settings = new Generator.Settings(maxTokens, temperature, topK, topP, seed, stop);
            System.out.print(prompt);
            System.out.flush();
            Generator.Output o;
            try {
                o = Generator.generate(model, tok, prompt, settings, s -> {
                    System.out.print(s);
                    System.out.flush();
                });
            } finally {
                System.out.println(); // the text so far ends its line, so that an error starts on its own
                System.out.flush();
            }
            System.err.printf(
                    "[%d tokens, %.1f tokens/s, stop: %s, decoding state %,d bytes]%n",
                    o.tokens(), o.tokensPerSecond(), o.stopReason(), o.cacheBytes());
        }
        return 0;
    }

    /**
     * The tokenizer for the model in {@code dir}: {@code --tokenizer} if given, else the directory's; checked against the
     * model's vocabulary (what generate, eval and the other commands that read a model directory share).
     */
    static Tokenizer tokenizer(Path dir, String option, int modelVocab) throws java.io.IOException {
        if (option == null) {
            return ModelDirectory.tokenizer(dir, modelVocab);
        }
        Tokenizer tok = Tokenizers.parse(option, "--tokenizer");
        ModelDirectory.checkVocabulary(tok, modelVocab, "the tokenizer " + option);
        return tok;
    }
}
