package fulgur.examples;

import fulgur.data.Batch;
import fulgur.data.PackedSequenceSampler;
import fulgur.data.TokenStream;
import fulgur.generate.Generator;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import fulgur.train.DataSources;
import fulgur.train.TrainConfig;
import fulgur.train.Trainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Trains a tiny TransNormerLLM on a Shakespeare excerpt for a few seconds, then continues a prompt. */
public final class TrainTinyTnl {
    private TrainTinyTnl() {}

    public static void main(String[] args) throws Exception {
        Path out = args.length > 0 ? Path.of(args[0]) : Files.createTempDirectory("fulgur-example");
        Tokenizer tokenizer = ByteTokenizer.withEndOfText(); // the 256 bytes and <|endoftext|>
        try (TnlModel model = train(tokenizer, out)) {
            Generator.Settings sampling = new Generator.Settings(
                    160, 0.8, 0, 0.95, 7, List.of()); // tokens, temperature, top-k, top-p, seed, stops
            Generator.Output sample = Generator.generate(model, tokenizer, "ROMEO:", sampling, null);
            System.out.println("sample: ROMEO:" + sample.text());
        }
    }

    /** A 2-layer TNL of width 64 trained for 120 steps of 8 × 64 tokens; its checkpoint goes to {@code out/checkpoint}. */
    public static TnlModel train(Tokenizer tokenizer, Path out) {
        int[] ids = tokenizer.encode(Shakespeare.excerpt());
        int split = ids.length * 9 / 10; // the last tenth is held out
        TokenStream train = TokenStream.of(ids).slice(0, split);
        List<Batch> heldOut = new ArrayList<>();
        PackedSequenceSampler.validation(TokenStream.of(ids).slice(split, ids.length), 8, 64)
                .forEach(heldOut::add);

        TrainConfig config = TrainConfig.defaults()
                .withSteps(120)
                .withBatch(8, 64)
                .withLr(5e-3, 12)
                .withEvalEvery(40);
        TnlModel model = new TnlModel(
                TnlConfig.small(tokenizer.vocabSize(), 64, 2, 4), 1234); // vocabulary, width, layers, heads
        Trainer.Result result = new Trainer(
                        model, config, DataSources.packed(train, 8, 64, 1234), Trainer.lossOn(heldOut), out, System.out)
                .run(false);
        System.out.printf(
                "trained %d steps: held-out loss %.3f nats per byte (uniform guessing: %.3f)%n",
                result.stepsDone(), result.lastEval().get("loss"), Math.log(tokenizer.vocabSize()));
        return model;
    }
}
