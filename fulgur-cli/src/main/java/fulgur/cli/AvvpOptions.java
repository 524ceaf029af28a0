package fulgur.cli;

import fulgur.avvp.SyntheticAvvp;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Options of train that only audio-visual video parsing (--model leap) reads. */
final class AvvpOptions {
    @Option(
            names = "--label-embeddings",
            paramLabel = "FILE",
            description =
                    "LEAP: fixed label embeddings, one vector per class (GloVe-300d of the class names in the paper): "
                            + "a .npy [classes, dim] in class order, or text lines 'label v1 v2 ...'. Default: embeddings learned with the model.")
    Path labelEmbeddings;

    @Option(
            names = "--synthetic-videos",
            defaultValue = "2000",
            description = "avvp-synthetic: training videos. Default: ${DEFAULT-VALUE}.")
    int syntheticVideos;

    @Option(
            names = "--synthetic-seed",
            defaultValue = "7",
            description =
                    "avvp-synthetic: the seed of the task (prototypes, videos), apart from --seed. Default: ${DEFAULT-VALUE}.")
    long syntheticSeed;

    SyntheticAvvp.Settings synthetic() {
        return SyntheticAvvp.Settings.defaults(syntheticSeed).withTrainVideos(syntheticVideos);
    }
}
