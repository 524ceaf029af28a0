package fulgur.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class LoadClientTest {
    private HttpServer server;
    private final List<String> bodies = new ArrayList<>();
    private final List<Integer> clientPorts = new ArrayList<>();

    @BeforeEach
    void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/stream", ex -> {
            bodies.add(new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
            clientPorts.add(ex.getRemoteAddress().getPort());
            ex.getResponseHeaders().add("Content-Type", "text/event-stream");
            ex.sendResponseHeaders(200, 0); // chunked
            try (OutputStream out = ex.getResponseBody()) {
                // a line split over two chunks, a multi-byte character split between them, CRLF and LF endings
                for (String piece :
                        List.of("data: {\"a\":1}\n\n", "data: h\u00e9", "\u00e9llo\r\n\r\n", "data: [DONE]\n\n")) {
                    out.write(piece.getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
            }
        });
        server.createContext("/sized", ex -> {
            ex.getRequestBody().readAllBytes();
            byte[] b = "{\"error\":\"no\"}\nlast line without end".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(404, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private URI base() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    @Test
    void streamsLinesAsTheyArriveOverOneKeptAliveConnection() throws IOException {
        try (LoadClient c = new LoadClient(base())) {
            for (int round = 0; round < 3; round++) {
                List<String> lines = new ArrayList<>();
                int status = c.post(
                        "/stream", ("{\"n\":" + round + "}").getBytes(StandardCharsets.UTF_8), 10_000, lines::add);
                assertThat(status).isEqualTo(200);
                assertThat(lines)
                        .containsExactly("data: {\"a\":1}", "", "data: h\u00e9\u00e9llo", "", "data: [DONE]", "");
            }
            List<String> lines = new ArrayList<>();
            assertThat(c.post("/sized", new byte[0], 10_000, lines::add)).isEqualTo(404);
            assertThat(lines).containsExactly("{\"error\":\"no\"}", "last line without end");
        }
        assertThat(bodies).containsExactly("{\"n\":0}", "{\"n\":1}", "{\"n\":2}");
        assertThat(clientPorts).as("one connection for all requests").containsOnly(clientPorts.getFirst());
    }

    @Test
    void aServerThatIsNotThereIsAnIoError() throws IOException {
        int port = server.getAddress().getPort();
        server.stop(0);
        try (LoadClient c = new LoadClient(URI.create("http://127.0.0.1:" + port))) {
            assertThatThrownBy(() -> c.post("/stream", new byte[0], 2_000, l -> {}))
                    .isInstanceOf(IOException.class);
        }
    }
}
