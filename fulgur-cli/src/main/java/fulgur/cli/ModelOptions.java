package fulgur.cli;

import fulgur.models.tnl.TnlConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** Options that define a TNL model: a config.json, or a few sizes. */
final class ModelOptions {
    @Option(names = "--model", defaultValue = "tnl", description = "Architecture (tnl). Default: ${DEFAULT-VALUE}.")
    String model;

    @Option(names = "--config", description = "A config.json (Hugging Face TransNormerLLM field names); overrides the size options.")
    Path config;

    @Option(names = "--dim", defaultValue = "128", description = "Model width (decoder_embed_dim). Default: ${DEFAULT-VALUE}.")
    int dim;

    @Option(names = "--layers", defaultValue = "2", description = "Number of layers. Default: ${DEFAULT-VALUE}.")
    int layers;

    @Option(names = "--heads", defaultValue = "4", description = "Attention heads. Default: ${DEFAULT-VALUE}.")
    int heads;

    @Option(names = "--lrpe", description = "Use LRPE in the first layer (the official 'Mix' setting).")
    boolean lrpe;

    @Option(names = "--lrpe-all", description = "Use LRPE in every layer.")
    boolean lrpeAll;

    @Option(names = "--untied", description = "Separate output head instead of tying it to the embedding.")
    boolean untied;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N. Default: ${DEFAULT-VALUE}.")
    String device = "cpu";

    fulgur.tensor.Device device() {
        return fulgur.tensor.Device.parse(device);
    }

    TnlConfig build(int vocab) {
        if (!model.equals("tnl")) {
            throw new IllegalArgumentException("unknown --model '" + model + "' (available: tnl)");
        }
        if (config != null) {
            TnlConfig c = TnlConfig.read(config);
            if (c.vocabSize() < vocab) {
                throw new IllegalArgumentException(config + ": vocab_size " + c.vocabSize() + " is smaller than the tokenizer's " + vocab);
            }
            return c;
        }
        if (dim <= 0 || layers <= 0 || heads <= 0 || dim % heads != 0) {
            throw new IllegalArgumentException("--dim must be a positive multiple of --heads and --layers positive (got dim " + dim + ", heads " + heads + ", layers " + layers + ")");
        }
        TnlConfig c = TnlConfig.small(vocab, dim, layers, heads).withTiedEmbeddings(!untied);
        if (lrpe || lrpeAll) {
            List<Integer> flags = new ArrayList<>();
            for (int i = 0; i < layers; i++) {
                flags.add(i == 0 || lrpeAll ? 1 : 0);
            }
            c = c.withLrpe(flags);
        }
        return c.validate();
    }
}
