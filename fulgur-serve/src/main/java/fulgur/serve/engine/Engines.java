package fulgur.serve.engine;

import fulgur.models.CausalLM;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ModelDirectory;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.serve.Engine;
import fulgur.serve.EngineOptions;
import fulgur.tensor.Device;
import fulgur.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;

/** Builds the continuous-batching {@link Engine}: from a model directory, or around a model already in memory. */
public final class Engines {
    private Engines() {}

    /**
     * Loads the model in {@code modelDir} (any layout {@code fulgur generate} reads: a training run's directory, its
     * checkpoint, a reference checkpoint; int8 checkpoints written by {@code fulgur convert --quantize int8} stay int8)
     * with its tokenizer (tokenizer.json or tokenizer.model, else byte-level; refused when it does not fit the model's vocabulary), moves it to {@code device} ("cpu", "cuda", "cuda:N") and
     * starts an engine that owns it (closing the engine frees the model). The model's name is the directory's. On the
     * CPU the f32 weights of its linear maps are kept transposed in memory ({@link Linear#storeTransposed}): the
     * batched decode step multiplies a few dozen rows by each of them, which then read the weight where it lies
     * instead of transposing it into packed panels on every step.
     *
     * @param modelDir the model's directory
     * @param device "cpu", "cuda" or "cuda:N"
     * @param options the engine's limits
     * @return the engine, to close
     * @throws java.io.IOException when the model or tokenizer cannot be read
     * @throws IllegalArgumentException when the directory holds no model, the tokenizer does not fit it or the device
     *     is unknown
     */
    public static Engine load(Path modelDir, String device, EngineOptions options) throws IOException {
        Device d = Device.parse(device);
        LanguageModel model = ReferenceCheckpoint.load(modelDir);
        try {
            Tokenizer tok = ModelDirectory.tokenizer(modelDir, model.vocabSize());
            if (d.kind() != Device.Kind.CPU) {
                model.module().to(d);
            } else {
                for (Module m : model.module().namedModules().values()) {
                    if (m instanceof Linear l) {
                        l.storeTransposed();
                    }
                }
            }
            return new BatchingEngine(model, tok, ModelDirectory.name(modelDir), options, model, true);
        } catch (RuntimeException | IOException e) {
            model.close();
            throw e;
        }
    }

    /**
     * An engine around {@code model} on its device, served as {@code id}; the model stays the caller's.
     *
     * @param model the model
     * @param tok its tokenizer
     * @param id the name clients use
     * @param options the engine's limits
     * @return the engine, to close (closing leaves the model open)
     */
    public static Engine of(CausalLM model, Tokenizer tok, String id, EngineOptions options) {
        return new BatchingEngine(model, tok, id, options, null, true);
    }
}
