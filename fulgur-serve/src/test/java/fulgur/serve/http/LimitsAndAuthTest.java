package fulgur.serve.http;

import static fulgur.serve.http.BadRequestTest.error;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import fulgur.serve.FinishReason;
import fulgur.serve.RejectedRequestException;
import java.io.ByteArrayInputStream;
import java.net.http.HttpRequest;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Request limits (body size, prompt, max_tokens, concurrent streams, a full engine queue) and the API key. */
class LimitsAndAuthTest {
    ScriptedEngine engine = new ScriptedEngine(List.of("a", "b", "c"), FinishReason.STOP);
    OpenAiServer server;

    Http start(ServerOptions options) throws Exception {
        server = new OpenAiServer(engine, ChatTemplate.plain(), options.withPort(0)).start();
        return new Http(server.uri());
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        engine.close();
    }

    @Test
    void bodiesBeyondTheLimitGet413() throws Exception {
        Http http = start(ServerOptions.defaults().withLimits(1000, 2048, 512, 8));
        String big = "{\"model\":\"test-model\",\"prompt\":\"" + "x".repeat(2000) + "\"}";
        JsonNode e = error(http.post("/v1/completions", big), 413);
        assertThat(e.get("code").asText()).isEqualTo("request_too_large");
        assertThat(e.get("message").asText()).contains("limit of 1000 bytes");
        // without Content-Length (chunked), the limit holds while reading
        Http.Reply chunked = http.send(HttpRequest.newBuilder(server.uri().resolve("/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(big.getBytes()))));
        assertThat(error(chunked, 413).get("message").asText()).contains("limit of 1000 bytes");
        assertThat(http.post("/v1/completions", "{\"model\":\"test-model\",\"prompt\":\"hi\"}")
                        .status())
                .isEqualTo(200);
    }

    @Test
    void longPromptsAndLongCompletionsAreRefused() throws Exception {
        Http http = start(ServerOptions.defaults().withLimits(1 << 20, 100, 512, 8));
        JsonNode e = error(
                http.post("/v1/completions", "{\"model\":\"test-model\",\"prompt\":\"" + "y".repeat(101) + "\"}"), 400);
        assertThat(e.get("code").asText()).isEqualTo("context_length_exceeded");
        assertThat(e.get("param").asText()).isEqualTo("prompt");
        assertThat(e.get("message").asText())
                .contains("maximum prompt length is 100 tokens. However, your prompt is 101 tokens");
        JsonNode chat = error(
                http.post(
                        "/v1/chat/completions",
                        "{\"model\":\"test-model\",\"messages\":[{\"role\":\"user\",\"content\":\"" + "y".repeat(90)
                                + "\"}]}"),
                400);
        assertThat(chat.get("param").asText()).isEqualTo("messages");
        assertThat(chat.get("message").asText())
                .contains("your prompt is 107 tokens"); // "user: " + 90 + "\nassistant:"
        assertThat(engine.submitted).isEmpty();
    }

    @Test
    void promptPlusCompletionBeyondTheContextIsRefused() throws Exception {
        Http http = start(ServerOptions.defaults().withLimits(1 << 20, 8000, 512, 8));
        JsonNode e = error(
                http.post(
                        "/v1/completions",
                        "{\"model\":\"test-model\",\"max_tokens\":500,\"prompt\":\"" + "z".repeat(3700) + "\"}"),
                400);
        assertThat(e.get("code").asText()).isEqualTo("context_length_exceeded");
        assertThat(e.get("message").asText())
                .contains(
                        "maximum context length is 4096 tokens. However, you requested 4200 tokens (3700 in the prompt, 500");
    }

    @Test
    void streamsBeyondTheLimitGet429WithRetryAfter() throws Exception {
        Http http = start(ServerOptions.defaults().withLimits(1 << 20, 2048, 512, 2));
        engine.holdAfter = 1;
        String stream = "{\"model\":\"test-model\",\"prompt\":\"hi\",\"stream\":true}";
        List<CompletableFuture<Http.Reply>> running = List.of(
                CompletableFuture.supplyAsync(() -> http.post("/v1/completions", stream)),
                CompletableFuture.supplyAsync(() -> http.post("/v1/completions", stream)));
        long end = System.currentTimeMillis() + 10_000;
        while (engine.handles.size() < 2 && System.currentTimeMillis() < end) {
            Thread.sleep(10);
        }
        Http.Reply busy = http.post("/v1/completions", stream);
        JsonNode e = error(busy, 429);
        assertThat(busy.header("retry-after")).isEqualTo("1");
        assertThat(e.get("type").asText()).isEqualTo("rate_limit_error");
        assertThat(e.get("message").asText()).contains("limit of 2 concurrent streams");
        engine.handles.forEach(ScriptedEngine.Handle::cancel);
        for (var f : running) {
            assertThat(f.get().status()).isEqualTo(200);
        }
        engine.holdAfter = -1;
        // the slots are free again
        assertThat(http.post("/v1/completions", "{\"model\":\"test-model\",\"prompt\":\"hi\",\"n\":2}")
                        .status())
                .isEqualTo(200);
    }

    @Test
    void aFullEngineQueueGets429AndAnImpossibleRequest400() throws Exception {
        Http http = start(ServerOptions.defaults());
        engine.reject = new RejectedRequestException(
                RejectedRequestException.Reason.QUEUE_FULL, "1024 requests are already waiting", 7);
        Http.Reply busy = http.post("/v1/completions", "{\"model\":\"test-model\",\"prompt\":\"hi\"}");
        assertThat(error(busy, 429).get("message").asText()).contains("1024 requests are already waiting");
        assertThat(busy.header("retry-after")).isEqualTo("7");
        engine.reject = new RejectedRequestException(
                RejectedRequestException.Reason.TOO_LARGE, "the state would not fit the memory budget", 0);
        JsonNode e = error(http.post("/v1/completions", "{\"model\":\"test-model\",\"prompt\":\"hi\"}"), 400);
        assertThat(e.get("message").asText()).isEqualTo("the state would not fit the memory budget");
    }

    @Test
    void withAnApiKeyEveryV1RequestNeedsIt() throws Exception {
        Http http = start(ServerOptions.defaults().withApiKey("sk-local-123"));
        String body = "{\"model\":\"test-model\",\"prompt\":\"hi\"}";
        Http.Reply none = http.post("/v1/completions", body);
        assertThat(error(none, 401).get("message").asText()).contains("You didn't provide an API key");
        assertThat(none.header("www-authenticate")).isEqualTo("Bearer");
        assertThat(error(http.get("/v1/models"), 401).get("type").asText()).isEqualTo("invalid_request_error");
        assertThat(error(http.get("/v1/nothing"), 401)).isNotNull();
        http.apiKey = "sk-wrong";
        assertThat(error(http.post("/v1/completions", body), 401).get("code").asText())
                .isEqualTo("invalid_api_key");
        Http.Reply basic = http.send(HttpRequest.newBuilder(server.uri().resolve("/v1/models"))
                .header("Authorization", "Basic c2stbG9jYWwtMTIz"));
        assertThat(basic.status()).isEqualTo(401);
        assertThat(engine.submitted).isEmpty();
        http.apiKey = "sk-local-123";
        assertThat(http.post("/v1/completions", body)
                        .json()
                        .at("/choices/0/text")
                        .asText())
                .isEqualTo("abc");
        assertThat(http.get("/v1/models").status()).isEqualTo(200);
        // the page, health and metrics stay open (the server binds to 127.0.0.1 unless told otherwise)
        http.apiKey = null;
        assertThat(http.get("/health").status()).isEqualTo(200);
        assertThat(http.get("/metrics").status()).isEqualTo(200);
        assertThat(http.get("/").status()).isEqualTo(200);
    }

    @Test
    void bindsToLoopbackByDefault() {
        assertThat(ServerOptions.defaults().host()).isEqualTo("127.0.0.1");
        assertThat(ServerOptions.defaults().port()).isEqualTo(8000);
    }

    @Test
    void aTakenPortIsOneClearError() throws Exception {
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
                OpenAiServer s = new OpenAiServer(
                        engine, ChatTemplate.plain(), ServerOptions.defaults().withPort(taken.getLocalPort()))) {
            assertThat(org.assertj.core.api.Assertions.catchThrowable(s::start))
                    .isInstanceOf(java.io.IOException.class)
                    .hasMessage("cannot listen on 127.0.0.1:" + taken.getLocalPort() + ": Address already in use");
        }
    }
}
