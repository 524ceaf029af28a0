package fulgur.cli;

import fulgur.cli.report.ProgressBar;
import fulgur.eval.MultipleChoice;
import fulgur.io.Json;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "choice",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Multiple choice by log-likelihood (the lm-evaluation-harness method): accuracy and length-normalised accuracy.",
            "Each line of the JSONL file is {\"context\": \"...\", \"choices\": [\"...\", ...], \"gold\": INDEX}.",
            "Example: fulgur eval choice --model-dir runs/mine --data tasks.jsonl"
        })
public final class EvalChoiceCommand implements Callable<Integer> {
    @Option(
            names = "--model-dir",
            required = true,
            paramLabel = "DIR",
            description = "A training output directory, a checkpoint, or a reference checkpoint.")
    Path dir;

    @Option(names = "--data", required = true, paramLabel = "FILE", description = "The tasks, as JSON Lines.")
    Path data;

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
        List<MultipleChoice.Task> tasks = MultipleChoice.read(data);
        PrintStream log = json ? System.err : System.out;
        try (EvalModel m = EvalModel.open(dir, tokenizer, device)) {
            log.println("model: " + m.model().describe() + "; " + tasks.size() + " tasks from " + data);
            MultipleChoice.Result r;
            try (var bar =
                    ProgressBar.builder(tasks.size(), log).label("choice").build()) {
                r = MultipleChoice.evaluate(m.model(), m.tokenizer(), tasks, done -> bar.update(done, 0, Double.NaN));
            }
            if (json) {
                Map<String, Object> out = new LinkedHashMap<>();
                out.put("model_dir", dir.toString());
                out.put("data", data.toString());
                out.put("tasks", r.tasks());
                out.put("acc", r.accuracy());
                out.put("acc_norm", r.normalizedAccuracy());
                System.out.println(Json.mapper()
                        .writer()
                        .without(com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT)
                        .writeValueAsString(out));
            } else {
                System.out.printf(
                        "tasks %d | acc %.4f | acc_norm %.4f%n", r.tasks(), r.accuracy(), r.normalizedAccuracy());
            }
        }
        return 0;
    }
}
