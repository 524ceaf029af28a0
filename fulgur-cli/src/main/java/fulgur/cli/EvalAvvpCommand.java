package fulgur.cli;

import fulgur.avvp.AvvpDataset;
import fulgur.avvp.AvvpEvaluation;
import fulgur.avvp.AvvpMetrics;
import fulgur.avvp.AvvpVideo;
import fulgur.avvp.Llp;
import fulgur.avvp.SyntheticAvvp;
import fulgur.models.leap.LeapModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "avvp",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Audio-visual video parsing: LLP's segment- and event-level F-scores of a trained LEAP model.",
            "Audio, visual and audio-visual F1, Type@AV and Event@AV as the LLP benchmark computes them, beside the scores of the true video labels "
                    + "put on every segment; on the whole set and on its videos with overlapping events (two or more at once in one modality).",
            "Example: fulgur eval avvp --model-dir runs/leap --data LLP_DIR --split test"
        })
public final class EvalAvvpCommand implements Callable<Integer> {
    @Option(
            names = "--model-dir",
            required = true,
            paramLabel = "DIR",
            description = "A training output directory or its checkpoint directory.")
    Path dir;

    @Option(names = "--data", paramLabel = "LLP_DIR", description = "An LLP directory (split CSVs, eval CSVs, feats/).")
    Path data;

    @Option(
            names = "--task",
            description =
                    "avvp-synthetic: the synthetic task the model was trained on (its settings are read from the run's trainer state).")
    String task;

    @Option(names = "--split", defaultValue = "test", description = "val or test. Default: ${DEFAULT-VALUE}.")
    String split;

    @Option(
            names = "--batch-size",
            defaultValue = "64",
            description = "Videos per forward pass. Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N. Default: ${DEFAULT-VALUE}.")
    String device;

    @Override
    public Integer call() throws Exception {
        if ((data == null) == (task == null)) {
            throw new IllegalArgumentException("give exactly one of --data LLP_DIR or --task " + AvvpTrain.TASK);
        }
        Llp.Split which = Llp.Split.parse(split);
        if (which == Llp.Split.TRAIN) {
            throw new IllegalArgumentException(
                    "--split train has no segment-level ground truth to score against (use val or test)");
        }
        fulgur.tensor.Device d = fulgur.tensor.Device.parse(device);
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("no model at " + dir + ": not a directory");
        }
        try (LeapModel model = LeapModel.load(dir)) {
            AvvpDataset set;
            if (task != null) {
                if (!AvvpTrain.TASK.equalsIgnoreCase(task)) {
                    throw new IllegalArgumentException(
                            "unknown --task '" + task + "' (available: " + AvvpTrain.TASK + ")");
                }
                Path checkpoint = Files.isDirectory(dir.resolve("checkpoint")) ? dir.resolve("checkpoint") : dir;
                SyntheticAvvp synthetic = new SyntheticAvvp(SyntheticAvvp.fromSpec(AvvpTrain.cast(
                        fulgur.train.Checkpoint.readState(checkpoint).get("data_spec"))));
                set = synthetic.split(which == Llp.Split.VAL ? SyntheticAvvp.Split.VAL : SyntheticAvvp.Split.TEST);
            } else {
                set = Llp.read(data, which, model.classes(), model.dims());
            }
            if (d.kind() != fulgur.tensor.Device.Kind.CPU) {
                model.module().to(d);
            }
            System.out.println("model: " + model.describe());
            System.out.println("data: " + set.description());
            AvvpDataset overlapping = set.filter("overlapping events", AvvpVideo::hasOverlappingEvents);
            List<AvvpTable.Row> rows = new ArrayList<>();
            rows.add(new AvvpTable.Row("LEAP", AvvpEvaluation.evaluate(model, set, batchSize)));
            rows.add(new AvvpTable.Row("video labels everywhere", AvvpEvaluation.videoLabelsEverywhere(set)));
            if (overlapping.size() > 0) {
                AvvpMetrics.Scores o = AvvpEvaluation.evaluate(model, overlapping, batchSize);
                rows.add(new AvvpTable.Row("LEAP, overlapping events", o));
                rows.add(new AvvpTable.Row(
                        "video labels, overlapping", AvvpEvaluation.videoLabelsEverywhere(overlapping)));
            }
            System.out.print(AvvpTable.format(rows));
        }
        return 0;
    }
}
