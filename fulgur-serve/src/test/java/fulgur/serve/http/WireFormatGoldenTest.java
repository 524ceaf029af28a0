package fulgur.serve.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import fulgur.serve.FinishReason;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The OpenAI wire format, request by request: each golden file under {@code golden/} holds a request, the status and
 * the response (or the server-sent events) the OpenAI API gives for it. Responses are compared as JSON trees, with ids
 * and timestamps checked for their form and then masked; event streams are also checked byte for byte for their
 * framing ({@code data: <json>\n\n} ... {@code data: [DONE]\n\n}).
 */
class WireFormatGoldenTest {
    private static final Pattern SSE = Pattern.compile("(data: [^\n]+\n\n)+");
    static ScriptedEngine engine;
    static OpenAiServer server;
    static Http http;

    @BeforeAll
    static void start() throws IOException {
        engine = new ScriptedEngine(List.of("Hello", ",", " world", "!"), FinishReason.STOP);
        server = new OpenAiServer(
                        engine,
                        ChatTemplate.plain(),
                        ServerOptions.defaults().withPort(0).withLimits(1 << 20, 2048, 512, 64))
                .start();
        http = new Http(URI.create("http://127.0.0.1:" + server.port()));
    }

    @AfterAll
    static void stop() {
        server.close();
        engine.close();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "completion",
                "completion-length",
                "completion-stream",
                "chat",
                "chat-stream-usage",
                "chat-stream-n2",
                "models",
                "error-invalid-type",
                "error-model-not-found"
            })
    void matchesTheGoldenExchange(String name) throws IOException {
        JsonNode golden;
        try (InputStream in = getClass().getResourceAsStream("/golden/" + name + ".json")) {
            golden = Http.MAPPER.readTree(in);
        }
        JsonNode req = golden.get("request");
        HttpRequest.Builder b = HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + server.port() + req.get("path").asText()));
        if (req.get("method").asText().equals("POST")) {
            b.header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(req.get("body").toString()));
        }
        Http.Reply reply = http.send(b);
        assertThat(reply.status())
                .as(reply.body())
                .isEqualTo(golden.get("status").asInt());
        if (golden.has("response")) {
            assertThat(reply.header("content-type")).startsWith("application/json");
            assertThat(mask(reply.json(), new HashSet<>())).isEqualTo(golden.get("response"));
            return;
        }
        assertThat(reply.header("content-type")).startsWith("text/event-stream");
        assertThat(SSE.matcher(reply.body()).matches())
                .as("SSE framing of %s", reply.body())
                .isTrue();
        assertThat(reply.body()).endsWith("data: [DONE]\n\n");
        List<String> events = reply.events();
        assertThat(events.getLast()).isEqualTo("[DONE]");
        Set<String> ids = new HashSet<>();
        List<JsonNode> chunks = new ArrayList<>();
        for (String e : events.subList(0, events.size() - 1)) {
            chunks.add(mask(Http.json(e), ids));
        }
        assertThat(ids).as("every chunk of a stream carries the same id").hasSize(1);
        // choices of n > 1 stream interleaved: compare each choice's own sequence (a stable sort keeps it)
        chunks.sort(Comparator.comparingInt(
                c -> c.path("choices").path(0).path("index").asInt(Integer.MAX_VALUE)));
        ArrayNode actual = JsonNodeFactory.instance.arrayNode();
        chunks.forEach(actual::add);
        actual.add("[DONE]");
        assertThat(actual).isEqualTo(golden.get("events"));
    }

    /** Checks ids and timestamps for their form, then replaces them by the golden files' placeholders. */
    static JsonNode mask(JsonNode n, Set<String> ids) {
        if (n.isObject()) {
            ObjectNode o = (ObjectNode) n;
            if (o.has("id") && o.get("id").asText().matches("(chatcmpl|cmpl)-[0-9a-f]{32}")) {
                String id = o.get("id").asText();
                ids.add(id);
                o.set("id", TextNode.valueOf("<id:" + id.substring(0, id.indexOf('-') + 1) + ">"));
            }
            if (o.has("created")) {
                long now = System.currentTimeMillis() / 1000;
                assertThat(o.get("created").isIntegralNumber()).isTrue();
                assertThat(o.get("created").asLong()).isBetween(now - 600, now + 5);
                o.set("created", TextNode.valueOf("<created>"));
            }
            o.properties().forEach(e -> mask(e.getValue(), ids));
        } else if (n.isArray()) {
            n.forEach(c -> mask(c, ids));
        }
        return n;
    }
}
