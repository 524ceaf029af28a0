package fulgur.serve.http;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.serve.FinishReason;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** A client that goes away cancels its generation at the engine at once, and the server keeps serving others. */
class DisconnectTest {
    ScriptedEngine engine;
    OpenAiServer server;

    @BeforeEach
    void start() throws Exception {
        engine = new ScriptedEngine(List.of("a", "b", "c", "d", "e", "f"), FinishReason.STOP);
        server = new OpenAiServer(
                        engine, ChatTemplate.plain(), ServerOptions.defaults().withPort(0))
                .start();
    }

    @AfterEach
    void stop() {
        server.close();
        engine.close();
    }

    /** Sends a raw HTTP request and returns the open socket with its reader. */
    private Socket post(String path, String body) throws Exception {
        Socket s = new Socket("127.0.0.1", server.port());
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        OutputStream out = s.getOutputStream();
        out.write(("POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                        + b.length + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        out.write(b);
        out.flush();
        return s;
    }

    @Test
    void closingAStreamMidwayCancelsTheRequest() throws Exception {
        engine.holdAfter = 2; // two tokens, then the request waits for more (a slow generation)
        try (Socket s = post(
                "/v1/chat/completions",
                "{\"model\":\"test-model\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")) {
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            int content = 0;
            for (String line; content < 2 && (line = in.readLine()) != null; ) {
                if (line.contains("\"content\":\"a\"") || line.contains("\"content\":\"b\"")) {
                    content++;
                }
            }
            assertThat(content).isEqualTo(2);
            assertThat(engine.handles.getFirst().isCancelled()).isFalse();
        }
        assertThat(engine.awaitCancel(5000))
                .as("the engine's handle was cancelled")
                .isTrue();
        assertStillServes();
    }

    @Test
    void closingBeforeANonStreamingAnswerCancelsTheRequest() throws Exception {
        engine.holdAfter = 1;
        try (Socket s = post("/v1/completions", "{\"model\":\"test-model\",\"prompt\":\"hi\",\"max_tokens\":6}")) {
            long end = System.currentTimeMillis() + 5000;
            while (engine.handles.isEmpty() && System.currentTimeMillis() < end) {
                Thread.sleep(10);
            }
            assertThat(engine.handles).hasSize(1);
        }
        assertThat(engine.awaitCancel(5000))
                .as("the engine's handle was cancelled")
                .isTrue();
        assertStillServes();
    }

    @Test
    void aWatchedConnectionStaysUsableForTheNextRequest() throws Exception {
        String body = "{\"model\":\"test-model\",\"prompt\":\"hi\",\"max_tokens\":3}";
        try (Socket s = post("/v1/completions", body)) {
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            assertThat(readResponse(in)).contains("\"text\":\"abc\"");
            byte[] b = body.getBytes(StandardCharsets.UTF_8);
            s.getOutputStream()
                    .write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + b.length
                                    + "\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().write(b);
            assertThat(readResponse(in)).contains("\"text\":\"abc\"");
        }
        assertThat(engine.handles).hasSize(2).noneMatch(ScriptedEngine.Handle::isCancelled);
    }

    /** Reads one HTTP/1.1 response with a Content-Length body; returns its body. */
    private static String readResponse(BufferedReader in) throws Exception {
        assertThat(in.readLine()).isEqualTo("HTTP/1.1 200 OK");
        int length = -1;
        for (String line; !(line = in.readLine()).isEmpty(); ) {
            if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                length = Integer.parseInt(line.substring(15).trim());
            }
        }
        char[] body = new char[length];
        int n = 0;
        while (n < length) {
            n += in.read(body, n, length - n);
        }
        return new String(body);
    }

    private void assertStillServes() {
        engine.holdAfter = -1;
        Http.Reply r = new Http(server.uri())
                .post("/v1/completions", "{\"model\":\"test-model\",\"prompt\":\"hi\",\"max_tokens\":6}");
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.json().at("/choices/0/text").asText()).isEqualTo("abcdef");
    }
}
