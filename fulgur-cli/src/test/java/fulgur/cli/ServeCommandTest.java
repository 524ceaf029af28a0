package fulgur.cli;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.serve.http.OpenAiServer;
import fulgur.tensor.DType;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class ServeCommandTest {

    static Path tinyModel(Path dir) throws Exception {
        Architecture tnl = Architectures.byName("tnl");
        try (LanguageModel m = tnl.build(tnl.smallConfig(257, 16, 1, 2), 1)) {
            ReferenceCheckpoint.save(m, dir, DType.F32, Long.MAX_VALUE);
        }
        return dir;
    }

    @Test
    void helpListsTheServeOptions() {
        String usage = Main.commandLine().getSubcommands().get("serve").getUsageMessage();
        assertThat(usage)
                .contains(
                        "--model-dir",
                        "--device",
                        "--host",
                        "--port",
                        "--api-key",
                        "FULGUR_API_KEY",
                        "--served-model-name",
                        "--max-body-size",
                        "--max-prompt-tokens",
                        "--max-tokens",
                        "--max-concurrent-streams",
                        "--max-running",
                        "--max-queued",
                        "--memory-budget",
                        "--request-timeout");
        assertThat(Main.commandLine().getUsageMessage()).contains("serve");
    }

    @Test
    void startupErrorsAreOneClearLineAndANonZeroExit(@TempDir Path tmp) throws Exception {
        CliTest.Run noModel = CliTest.run("serve", "--model-dir", "/no/such/model");
        assertThat(noModel.code()).isEqualTo(1);
        assertThat(noModel.err().strip()).isEqualTo("fulgur serve: no model at /no/such/model: not a directory");
        Path model = tinyModel(tmp.resolve("m"));
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            CliTest.Run busy = CliTest.run(
                    "serve", "--model-dir", model.toString(), "--port", Integer.toString(taken.getLocalPort()));
            assertThat(busy.code()).isEqualTo(1);
            assertThat(busy.err().strip())
                    .isEqualTo("fulgur serve: cannot listen on 127.0.0.1:" + taken.getLocalPort()
                            + ": Address already in use");
        }
        assertThat(CliTest.run("serve", "--model-dir", model.toString(), "--max-body-size", "lots")
                        .err()
                        .strip())
                .isEqualTo("fulgur serve: --max-body-size must be a positive size like 512KB, 4MB or 2GB, got 'lots'");
        assertThat(CliTest.run("serve", "--model-dir", model.toString(), "--request-timeout", "0")
                        .err())
                .contains("--request-timeout must be a positive duration like 90s, 10m or 1h, got '0'");
        assertThat(CliTest.run("serve", "--model-dir", model.toString(), "--port", "70000")
                        .err())
                .contains("port must be in [0, 65535], got 70000");
        assertThat(CliTest.run("serve", "--model-dir", model.toString(), "--max-tokens", "0")
                        .err())
                .contains("--max-tokens must be positive, got 0");
        assertThat(CliTest.run("serve", "--model-dir", model.toString(), "--device", "tpu")
                        .err())
                .contains("unknown device 'tpu'");
    }

    @Test
    void servesTheModelWithAnApiKey(@TempDir Path tmp) throws Exception {
        Path model = tinyModel(tmp.resolve("shakespeare"));
        CommandLine cl = Main.commandLine();
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err));
        ServeCommand serve = cl.getSubcommands().get("serve").getCommand();
        CompletableFuture<OpenAiServer> started = new CompletableFuture<>();
        serve.onStarted = started::complete;
        CompletableFuture<Integer> exit = CompletableFuture.supplyAsync(() -> cl.execute(
                "serve",
                "--model-dir",
                model.toString(),
                "--port",
                "0",
                "--api-key",
                "sk-cli",
                "--served-model-name",
                "bard",
                "--max-tokens",
                "64"));
        OpenAiServer server = started.get(60, TimeUnit.SECONDS);
        try {
            HttpClient client = HttpClient.newHttpClient();
            URI uri = server.uri();
            assertThat(uri.getHost()).isEqualTo("127.0.0.1");
            HttpResponse<String> denied = client.send(
                    HttpRequest.newBuilder(uri.resolve("/v1/models")).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(denied.statusCode()).isEqualTo(401);
            HttpResponse<String> ok = client.send(
                    HttpRequest.newBuilder(uri.resolve("/v1/completions"))
                            .header("Authorization", "Bearer sk-cli")
                            .POST(HttpRequest.BodyPublishers.ofString(
                                    "{\"model\":\"bard\",\"prompt\":\"O\",\"max_tokens\":5}"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
            assertThat(ok.body()).contains("\"model\":\"bard\"").contains("\"object\":\"text_completion\"");
            HttpResponse<String> tooMany = client.send(
                    HttpRequest.newBuilder(uri.resolve("/v1/completions"))
                            .header("Authorization", "Bearer sk-cli")
                            .POST(HttpRequest.BodyPublishers.ofString(
                                    "{\"model\":\"bard\",\"prompt\":\"O\",\"max_tokens\":65}"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(tooMany.statusCode()).isEqualTo(400);
        } finally {
            server.close();
        }
        assertThat(exit.get(30, TimeUnit.SECONDS)).as(err.toString()).isZero();
    }
}
