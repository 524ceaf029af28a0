package fulgur.cli;

import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The fulgur command line. */
@Command(
        name = "fulgur",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description =
                "Train and serve linear-complexity sequence models (Lightning Attention / TransNormerLLM, HGRN2, MetaLA, LightNet, LCSM, softmax and hybrid models) on the JVM.",
        subcommands = {
            DemoCommand.class,
            TrainCommand.class,
            GenerateCommand.class,
            ServeCommand.class,
            EvalCommand.class,
            ConvertCommand.class,
            BenchCommand.class,
            MqarSweepCommand.class,
            LaunchCommand.class,
            CommandLine.HelpCommand.class
        })
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    public static void main(String[] args) {
        fulgur.dist.launch.LauncherWatch.startIfLaunched();
        int code;
        try {
            code = commandLine().execute(args);
        } catch (OutOfMemoryError e) {
            // picocli hands only exceptions to the handler below; an exhausted heap ends up here
            System.err.println("fulgur: out of memory (" + e.getMessage()
                    + "): use smaller sizes, or give the JVM more with FULGUR_JAVA_OPTS=-Xmx…");
            code = 1;
        }
        System.exit(code);
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
        // a bad option or value: one line naming it (not the whole usage text), and where the usage is
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine cmd = ex.getCommandLine();
            String name = cmd.getCommandSpec().qualifiedName();
            cmd.getErr().println(name + ": " + oneLine(ex.getMessage()) + " (see '" + name + " --help')");
            return cmd.getCommandSpec().exitCodeOnInvalidInput();
        });
        return cl;
    }

    /** What went wrong, in one line: the innermost useful message; file-system errors say what happened to which file. */
    static String message(Throwable ex) {
        Throwable t = ex;
        while ((t instanceof java.io.UncheckedIOException || t.getMessage() == null) && t.getCause() != null) {
            t = t.getCause();
        }
        if (t instanceof FileSystemException f) {
            return describe(f);
        }
        if (t instanceof com.fasterxml.jackson.core.JacksonException j) {
            return fulgur.io.Json.describe(j);
        }
        return oneLine(t.getMessage() != null ? t.getMessage() : t.toString());
    }

    /** "PATH: permission denied", "A -> B: no such file or directory", with the system's reason when it gave one. */
    static String describe(FileSystemException f) {
        String what = switch (f) {
            case AccessDeniedException e -> "permission denied";
            case FileAlreadyExistsException e -> "already exists";
            case NoSuchFileException e -> "no such file or directory";
            case NotDirectoryException e -> "not a directory";
            case DirectoryNotEmptyException e -> "directory not empty";
            case AtomicMoveNotSupportedException e -> "cannot be moved atomically (another file system?)";
            default -> "file-system error";
        };
        String reason = f.getReason();
        String where = f.getFile() == null
                ? ""
                : f.getFile() + (f.getOtherFile() == null ? "" : " -> " + f.getOtherFile()) + ": ";
        return where
                + (reason == null || reason.isBlank() || reason.equalsIgnoreCase(what)
                        ? what
                        : what + " (" + reason + ")");
    }

    private static String oneLine(String s) {
        return s.strip().replaceAll("\\s*\\R\\s*", " ");
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
