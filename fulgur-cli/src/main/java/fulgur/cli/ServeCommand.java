package fulgur.cli;

import fulgur.serve.Engine;
import fulgur.serve.EngineOptions;
import fulgur.serve.ModelInfo;
import fulgur.serve.engine.Engines;
import fulgur.serve.http.ChatTemplate;
import fulgur.serve.http.OpenAiServer;
import fulgur.serve.http.ServerOptions;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "serve",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Serve a model over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, streaming), with a chat page at /,",
            "/health and Prometheus /metrics.",
            "Example: fulgur serve --model-dir runs/shakespeare   then   curl http://127.0.0.1:8000/v1/models"
        })
public final class ServeCommand implements Callable<Integer> {
    @Option(
            names = "--model-dir",
            required = true,
            description =
                    "A training output directory, its checkpoint directory, or a reference (Hugging Face) checkpoint directory.")
    Path dir;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N. Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(
            names = "--host",
            defaultValue = "127.0.0.1",
            description = "Address to listen on (0.0.0.0: every interface). Default: ${DEFAULT-VALUE}.")
    String host;

    @Option(
            names = "--port",
            defaultValue = "8000",
            description = "TCP port (0: any free port). Default: ${DEFAULT-VALUE}.")
    int port;

    @Option(
            names = "--api-key",
            description =
                    "Require 'Authorization: Bearer KEY' on /v1 requests. Default: $FULGUR_API_KEY if set, else none.")
    String apiKey;

    @Option(
            names = "--served-model-name",
            description = "The model name clients use. Default: the model directory's name.")
    String servedModelName;

    @Option(
            names = "--max-body-size",
            defaultValue = "4MB",
            description = "Largest request body (413 beyond). Default: ${DEFAULT-VALUE}.")
    String maxBodySize;

    @Option(
            names = "--max-prompt-tokens",
            defaultValue = "32768",
            description = "Longest prompt in tokens (400 beyond). Default: ${DEFAULT-VALUE}.")
    int maxPromptTokens;

    @Option(
            names = "--max-tokens",
            defaultValue = "4096",
            description = "Largest max_tokens of a request (400 beyond); chat's default. Default: ${DEFAULT-VALUE}.")
    int maxTokens;

    @Option(
            names = "--max-concurrent-streams",
            defaultValue = "256",
            description =
                    "Generations running or queued at once, each choice counting (429 beyond). Default: ${DEFAULT-VALUE}.")
    int maxStreams;

    @Option(
            names = "--max-running",
            defaultValue = "64",
            description = "Engine: sequences decoded together. Default: ${DEFAULT-VALUE}.")
    int maxRunning;

    @Option(
            names = "--max-queued",
            defaultValue = "1024",
            description = "Engine: requests waiting for admission (429 beyond). Default: ${DEFAULT-VALUE}.")
    int maxQueued;

    @Option(
            names = "--memory-budget",
            defaultValue = "4GB",
            description = "Engine: state and KV memory of admitted requests. Default: ${DEFAULT-VALUE}.")
    String memoryBudget;

    @Option(
            names = "--prefill-chunk",
            defaultValue = "512",
            description = "Engine: prompt tokens prefilled per step and sequence. Default: ${DEFAULT-VALUE}.")
    int prefillChunk;

    @Option(
            names = "--state-cache",
            defaultValue = "1GB",
            description = "Engine: prefix state cache size (0: off). Default: ${DEFAULT-VALUE}.")
    String stateCache;

    @Option(
            names = "--state-cache-interval",
            defaultValue = "4096",
            description =
                    "Engine: also cache states every this many prompt tokens (0: prompt ends only). Default: ${DEFAULT-VALUE}.")
    int stateCacheInterval;

    @Option(
            names = "--decode-graphs",
            defaultValue = "4",
            description =
                    "Engine: batch sizes whose decode step is kept as a CUDA graph (0: never). Default: ${DEFAULT-VALUE}.")
    int decodeGraphs;

    @Option(
            names = "--request-timeout",
            defaultValue = "10m",
            description = "Deadline of a request, e.g. 90s, 10m, 1h. Default: ${DEFAULT-VALUE}.")
    String requestTimeout;

    /** Told of the running server (tests use it to reach and stop it). */
    Consumer<OpenAiServer> onStarted = s -> {};

    @Override
    public Integer call() throws Exception {
        String key = apiKey != null ? apiKey : System.getenv("FULGUR_API_KEY");
        if (key != null && key.isBlank()) {
            key = null;
        }
        ServerOptions serverOptions = new ServerOptions(
                host,
                port,
                key,
                servedModelName,
                size("--max-body-size", maxBodySize, false),
                positive("--max-prompt-tokens", maxPromptTokens),
                positive("--max-tokens", maxTokens),
                positive("--max-concurrent-streams", maxStreams),
                ServerOptions.defaults().idleTimeout());
        EngineOptions engineOptions = new EngineOptions(
                positive("--max-running", maxRunning),
                positive("--max-queued", maxQueued),
                maxPromptTokens,
                maxTokens,
                size("--memory-budget", memoryBudget, false),
                positive("--prefill-chunk", prefillChunk),
                size("--state-cache", stateCache, true),
                notNegative("--state-cache-interval", stateCacheInterval),
                duration("--request-timeout", requestTimeout),
                notNegative("--decode-graphs", decodeGraphs));
        Engine engine = createEngine(dir, device, engineOptions);
        OpenAiServer server;
        try {
            server = new OpenAiServer(engine, ChatTemplate.forModelDir(dir), serverOptions).start();
        } catch (IOException | RuntimeException e) {
            engine.close();
            throw e;
        }
        Thread stopper = new Thread(
                () -> {
                    server.close();
                    engine.close();
                },
                "fulgur-serve-stop");
        Runtime.getRuntime().addShutdownHook(stopper);
        ModelInfo m = engine.model();
        System.out.printf(
                "fulgur serve: %s (%s, %,d parameters) on %s%n",
                server.modelName(), m.architecture(), m.parameters(), m.device());
        System.out.printf(
                "  API       %s/v1 (OpenAI-compatible%s)%n  chat page %s/%n  metrics   %s/metrics%n",
                server.uri(), key != null ? ", API key required" : "", server.uri(), server.uri());
        System.out.flush();
        onStarted.accept(server);
        try {
            server.join();
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(stopper);
                server.close();
                engine.close();
            } catch (IllegalStateException shuttingDown) {
                // the JVM is exiting: the hook closes them
            }
        }
        return 0;
    }

    /** The one place the engine is made. */
    static Engine createEngine(Path dir, String device, EngineOptions options) throws IOException {
        return Engines.load(dir, device, options);
    }

    private static int positive(String flag, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException(flag + " must be positive, got " + v);
        }
        return v;
    }

    private static int notNegative(String flag, int v) {
        if (v < 0) {
            throw new IllegalArgumentException(flag + " must be >= 0, got " + v);
        }
        return v;
    }

    static long size(String flag, String s, boolean zeroAllowed) {
        if (zeroAllowed && s.trim().equals("0")) {
            return 0;
        }
        try {
            return ConvertCommand.parseSize(s);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    flag + " must be a positive size like 512KB, 4MB or 2GB, got '" + s + "'");
        }
    }

    static Duration duration(String flag, String s) {
        Matcher m = Pattern.compile("(\\d+)\\s*(ms|s|m|h)?").matcher(s.trim().toLowerCase(Locale.ROOT));
        if (m.matches() && Long.parseLong(m.group(1)) > 0) {
            long n = Long.parseLong(m.group(1));
            return switch (m.group(2) == null ? "s" : m.group(2)) {
                case "ms" -> Duration.ofMillis(n);
                case "m" -> Duration.ofMinutes(n);
                case "h" -> Duration.ofHours(n);
                default -> Duration.ofSeconds(n);
            };
        }
        throw new IllegalArgumentException(flag + " must be a positive duration like 90s, 10m or 1h, got '" + s + "'");
    }
}
