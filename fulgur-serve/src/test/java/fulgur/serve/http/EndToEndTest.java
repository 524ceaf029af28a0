package fulgur.serve.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import fulgur.generate.Generator;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.serve.Engine;
import fulgur.serve.EngineOptions;
import fulgur.serve.engine.Engines;
import fulgur.tokenizer.ByteTokenizer;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server in front of a real model: tokens it serves are the ones text generation produces. */
class EndToEndTest {
    @TempDir
    static Path tmp;

    static Path modelDir;
    static Engine engine;
    static OpenAiServer server;
    static Http http;

    @BeforeAll
    static void start() throws Exception {
        modelDir = TinyModel.create(tmp.resolve("tiny-tnl"), 32, 2);
        engine = Engines.load(modelDir, "cpu", EngineOptions.defaults());
        server = new OpenAiServer(
                        engine,
                        ChatTemplate.forModelDir(modelDir),
                        ServerOptions.defaults().withPort(0))
                .start();
        http = new Http(server.uri());
    }

    @AfterAll
    static void stop() {
        server.close();
        engine.close();
    }

    static JsonNode body(Map<String, Object> fields) {
        return Http.MAPPER.valueToTree(fields);
    }

    @Test
    void greedyCompletionsAreTheTokensOfTextGeneration() throws Exception {
        String prompt = "To be, or not to be";
        Generator.Output expected;
        try (LanguageModel model = ReferenceCheckpoint.load(modelDir)) {
            expected = Generator.generate(
                    model,
                    ByteTokenizer.withEndOfText(),
                    prompt,
                    new Generator.Settings(40, 0, 0, 1, 0, List.of()),
                    null);
        }
        assertThat(server.modelName()).isEqualTo("tiny-tnl");
        JsonNode r = http.post(
                        "/v1/completions",
                        body(Map.of("model", "tiny-tnl", "prompt", prompt, "max_tokens", 40, "temperature", 0)))
                .json();
        String text = r.at("/choices/0/text").asText();
        assertThat(text).isEqualTo(expected.text());
        boolean eos = expected.stopReason().equals("eos");
        assertThat(r.at("/choices/0/finish_reason").asText()).isEqualTo(eos ? "stop" : "length");
        // whether the end-of-sequence token counts as a completion token is the engine's choice
        assertThat(r.at("/usage/completion_tokens").asInt())
                .isIn(eos ? List.of(expected.tokens(), expected.tokens() + 1) : List.of(expected.tokens()));
        assertThat(r.at("/usage/prompt_tokens").asInt()).isEqualTo(prompt.length());

        Http.Reply stream = http.post(
                "/v1/completions",
                body(Map.of(
                        "model",
                        "tiny-tnl",
                        "prompt",
                        prompt,
                        "max_tokens",
                        40,
                        "temperature",
                        0,
                        "stream",
                        true,
                        "stream_options",
                        Map.of("include_usage", true))));
        StringBuilder streamed = new StringBuilder();
        List<String> events = stream.events();
        for (String e : events.subList(0, events.size() - 2)) {
            streamed.append(Http.json(e).at("/choices/0/text").asText());
        }
        assertThat(streamed).hasToString(text);
        assertThat(Http.json(events.get(events.size() - 2))
                        .at("/usage/completion_tokens")
                        .asInt())
                .isEqualTo(r.at("/usage/completion_tokens").asInt());
    }

    @Test
    void stopStringsEndTheTextBeforeThem() {
        JsonNode full = http.post(
                        "/v1/completions",
                        body(Map.of("model", "tiny-tnl", "prompt", "ROMEO:", "max_tokens", 30, "temperature", 0)))
                .json();
        String text = full.at("/choices/0/text").asText();
        assertThat(text.length()).isGreaterThan(6);
        String stop = text.substring(4, 6);
        JsonNode cut = http.post(
                        "/v1/completions",
                        body(Map.of(
                                "model",
                                "tiny-tnl",
                                "prompt",
                                "ROMEO:",
                                "max_tokens",
                                30,
                                "temperature",
                                0,
                                "stop",
                                List.of(stop))))
                .json();
        assertThat(cut.at("/choices/0/text").asText()).isEqualTo(text.substring(0, text.indexOf(stop)));
        assertThat(cut.at("/choices/0/finish_reason").asText()).isEqualTo("stop");
    }

    @Test
    void seededChatSamplingIsReproducibleAndChoicesDiffer() {
        JsonNode req = body(Map.of(
                "model",
                "tiny-tnl",
                "messages",
                List.of(Map.of("role", "user", "content", "Hello")),
                "max_tokens",
                24,
                "temperature",
                1.0,
                "top_k",
                50,
                "seed",
                42,
                "n",
                3));
        JsonNode a = http.post("/v1/chat/completions", req).json();
        JsonNode b = http.post("/v1/chat/completions", req).json();
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            assertThat(a.at("/choices/" + i + "/index").asInt()).isEqualTo(i);
            assertThat(a.at("/choices/" + i + "/message/content").asText())
                    .isEqualTo(b.at("/choices/" + i + "/message/content").asText());
            texts.add(a.at("/choices/" + i + "/message/content").asText());
        }
        assertThat(texts).doesNotHaveDuplicates();
        assertThat(a.at("/usage/prompt_tokens").asInt()).isEqualTo("user: Hello\nassistant:".length());
    }

    @Test
    void aClientLeavingALongGenerationFreesTheEngine() throws Exception {
        long before = engine.stats().completionTokens();
        byte[] b = body(Map.of(
                        "model",
                        "tiny-tnl",
                        "prompt",
                        "A long story:",
                        "max_tokens",
                        4000,
                        "temperature",
                        0.8,
                        "seed",
                        1,
                        "stream",
                        true))
                .toString()
                .getBytes(StandardCharsets.UTF_8);
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            OutputStream out = s.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + b.length + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.write(b);
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            int chunks = 0;
            for (String line; chunks < 5 && (line = in.readLine()) != null; ) {
                if (line.contains("\"text\"")) {
                    chunks++;
                }
            }
            assertThat(chunks).isEqualTo(5);
        }
        long end = System.currentTimeMillis() + 5000;
        while ((engine.stats().running() > 0 || engine.stats().queued() > 0) && System.currentTimeMillis() < end) {
            Thread.sleep(5);
        }
        assertThat(engine.stats().running()).isZero();
        assertThat(engine.stats().completionTokens() - before)
                .as("tokens generated for the departed client")
                .isLessThan(1000);
        JsonNode next = http.post(
                        "/v1/completions", body(Map.of("model", "tiny-tnl", "prompt", "Next", "max_tokens", 3)))
                .json();
        assertThat(next.at("/usage/completion_tokens").asInt()).isBetween(1, 3);
    }

    @Test
    void modelsAndHealthDescribeTheModel() {
        JsonNode m = http.get("/v1/models").json().at("/data/0");
        assertThat(m.get("id").asText()).isEqualTo("tiny-tnl");
        assertThat(m.get("architecture").asText()).isEqualTo("tnl");
        assertThat(m.get("parameters").asLong()).isPositive();
        assertThat(m.at("/config/model_type").asText()).isEqualTo("transnormer");
        assertThat(http.get("/health").json().get("status").asText()).isEqualTo("ok");
        assertThat(http.get("/").body()).contains("<title>fulgur chat</title>");
    }
}
