package fulgur.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code fulgur eval <benchmark>}: one subcommand per evaluation; a new benchmark is one more class in {@code subcommands}. */
@Command(
        name = "eval",
        mixinStandardHelpOptions = true,
        description = {
            "Evaluate a trained model: perplexity, multiple choice, MQAR recall, passkey retrieval, or LEAP on audio-visual video parsing.",
            "Example: fulgur eval perplexity --model-dir runs/shakespeare --data valid.txt"
        },
        subcommands = {
            EvalPerplexityCommand.class,
            EvalChoiceCommand.class,
            EvalMqarCommand.class,
            EvalNeedleCommand.class,
            EvalAvvpCommand.class
        })
public final class EvalCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(
                spec.commandLine(),
                "name a benchmark: " + String.join(", ", spec.subcommands().keySet()));
    }
}
