package fulgur.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The fulgur command line. */
@Command(name = "fulgur", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Train and serve linear-complexity sequence models (Lightning Attention / TransNormerLLM, HGRN2, MetaLA, LightNet, LCSM, softmax and hybrid models) on the JVM.",
        subcommands = {DemoCommand.class, TrainCommand.class, GenerateCommand.class, ServeCommand.class, EvalCommand.class, ConvertCommand.class, BenchCommand.class, MqarSweepCommand.class, LaunchCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured command line (also used by tests). */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        // everything after launch's own options is the command to start, options included
        cl.getSubcommands().get("launch").setStopAtPositional(true);
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            cmd.getErr().println("fulgur " + cmd.getCommandName() + ": " + message(ex));
            if (System.getenv("FULGUR_DEBUG") != null) {
                ex.printStackTrace(cmd.getErr());
            }
            return 1;
        });
        return cl;
    }

    static String message(Throwable ex) {
        Throwable t = ex;
        while ((t instanceof java.io.UncheckedIOException || t.getMessage() == null) && t.getCause() != null) {
            t = t.getCause();
        }
        return t.getMessage() != null ? t.getMessage() : t.toString();
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"fulgur " + version() + " on Java " + Runtime.version()};
        }

        /** The build's version, from the version.properties the build writes. */
        static String version() {
            try (var in = Main.class.getResourceAsStream("version.properties")) {
                var p = new java.util.Properties();
                if (in != null) {
                    p.load(in);
                }
                return p.getProperty("version", "unknown");
            } catch (java.io.IOException e) {
                return "unknown";
            }
        }
    }
}
