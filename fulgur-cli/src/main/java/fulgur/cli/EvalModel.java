package fulgur.cli;

import fulgur.models.LanguageModel;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;

/** A model directory opened for evaluation: the model on its device and its tokenizer, checked against each other. */
record EvalModel(LanguageModel model, Tokenizer tokenizer) implements AutoCloseable {

    static EvalModel open(Path dir, String tokenizerOption, String device) throws IOException {
        fulgur.tensor.Device d = fulgur.tensor.Device.parse(device);
        LanguageModel model = ReferenceCheckpoint.load(dir);
        try {
            Tokenizer tok = GenerateCommand.tokenizer(dir, tokenizerOption, model.vocabSize());
            if (d.kind() != fulgur.tensor.Device.Kind.CPU) {
                model.module().to(d);
            }
            return new EvalModel(model, tok);
        } catch (RuntimeException | IOException e) {
            model.close();
            throw e;
        }
    }

    @Override
    public void close() {
        model.close();
    }
}
