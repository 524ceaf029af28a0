package fulgur.examples;

import fulgur.data.Batch;
import fulgur.data.PackedSequenceSampler;
import fulgur.data.TokenStream;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.models.tnl.TnlModel;
import fulgur.tensor.DType;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import fulgur.train.Evaluator;
import fulgur.train.Trainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Trains the tiny model of {@link TrainTinyTnl}, loads the checkpoint the run wrote and measures its held-out loss, then
 * exports the model as a bf16 Hugging Face checkpoint (the reference implementation's names) and measures that too.
 */
public final class CheckpointRoundTrip {
    private CheckpointRoundTrip() {}

    public static void main(String[] args) throws Exception {
        Path out = args.length > 0 ? Path.of(args[0]) : Files.createTempDirectory("fulgur-example");
        Tokenizer tokenizer = ByteTokenizer.withEndOfText();
        int[] ids = tokenizer.encode(Shakespeare.excerpt());
        List<Batch> heldOut = new ArrayList<>();
        PackedSequenceSampler.validation(TokenStream.of(ids).slice(ids.length * 9 / 10, ids.length), 8, 64)
                .forEach(heldOut::add);
        Evaluator loss = Trainer.lossOn(heldOut);

        try (TnlModel trained = TrainTinyTnl.train(tokenizer, out.resolve("run"))) {
            System.out.printf(
                    "in memory:            held-out loss %.6f%n",
                    loss.evaluate(trained).get("loss"));
            ReferenceCheckpoint.save(
                    trained, out.resolve("hf-bf16"), DType.BF16, 2L << 30); // model.safetensors + config.json
        }
        try (LanguageModel loaded =
                ReferenceCheckpoint.load(out.resolve("run"))) { // a run directory, a checkpoint or a reference one
            System.out.printf(
                    "f32 checkpoint:       held-out loss %.6f (%s, %,d parameters)%n",
                    loss.evaluate(loaded).get("loss"), loaded.describe(), loaded.parameterCount());
        }
        try (LanguageModel loaded = ReferenceCheckpoint.load(out.resolve("hf-bf16"))) {
            System.out.printf(
                    "bf16 reference files: held-out loss %.6f%n",
                    loss.evaluate(loaded).get("loss"));
        }
    }
}
