package fulgur.serve.http;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import fulgur.serve.Engine;
import java.io.IOException;
import java.net.BindException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.VirtualThreads;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * An OpenAI-compatible HTTP server in front of an {@link Engine}: {@code /v1/completions}, {@code /v1/chat/completions}
 * (both streaming as server-sent events), {@code /v1/models}, {@code /health}, {@code /metrics} (Prometheus) and a chat
 * page at {@code /}. Jetty runs each request on a virtual thread, so a waiting stream holds no platform thread. The
 * engine stays the caller's: closing the server does not close it.
 */
public final class OpenAiServer implements AutoCloseable {
    private final ServerOptions options;
    private final Server server;
    private final ServerConnector connector;
    private final Router router;

    /**
     * A server for {@code engine}, not started yet.
     *
     * @param engine the engine, which the server does not close
     * @param template the chat template of {@code /v1/chat/completions}
     * @param options where to listen and what to accept
     */
    public OpenAiServer(Engine engine, ChatTemplate template, ServerOptions options) {
        this.options = options;
        ObjectMapper mapper = JsonMapper.builder()
                .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
                .build();
        QueuedThreadPool threads = new QueuedThreadPool();
        threads.setName("fulgur-http");
        threads.setVirtualThreadsExecutor(VirtualThreads.getDefaultVirtualThreadsExecutor());
        server = new Server(threads);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendXPoweredBy(false);
        connector = new ServerConnector(server, new HttpConnectionFactory(http));
        connector.setHost(options.host());
        connector.setPort(options.port());
        connector.setIdleTimeout(options.idleTimeout().toMillis());
        server.addConnector(connector);
        router = new Router(engine, template, options, new ServerMetrics(engine), mapper);
        server.setHandler(router);
        server.setErrorHandler(new JsonErrorHandler());
        server.setStopTimeout(5_000);
    }

    /**
     * Binds and starts serving; a taken port or a bad address is one clear {@link IOException}.
     *
     * @return this server
     * @throws java.io.IOException when it cannot listen
     */
    public OpenAiServer start() throws IOException {
        try {
            server.start();
        } catch (Exception e) {
            stopQuietly();
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof BindException b) {
                    throw new IOException(
                            "cannot listen on " + options.host() + ":" + options.port() + ": " + b.getMessage(), e);
                }
            }
            throw new IOException(
                    "cannot start the HTTP server on " + options.host() + ":" + options.port() + ": " + e.getMessage(),
                    e);
        }
        return this;
    }

    /**
     * The port it listens on (the one chosen when the options asked for port 0).
     *
     * @return the port
     */
    public int port() {
        return connector.getLocalPort();
    }

    /**
     * The model name clients use.
     *
     * @return the name
     */
    public String modelName() {
        return router.modelName();
    }

    /**
     * {@code http://host:port}, for logs and clients.
     *
     * @return the URI
     */
    public URI uri() {
        String h = options.host().contains(":") ? "[" + options.host() + "]" : options.host();
        return URI.create("http://" + h + ":" + port());
    }

    /**
     * Blocks until the server stops.
     *
     * @throws java.lang.InterruptedException when interrupted while waiting
     */
    public void join() throws InterruptedException {
        server.join();
    }

    @Override
    public void close() {
        stopQuietly();
    }

    private void stopQuietly() {
        try {
            server.stop();
        } catch (Exception e) {
            System.getLogger(OpenAiServer.class.getName())
                    .log(System.Logger.Level.WARNING, "stopping the HTTP server", e);
        }
    }

    /** Errors Jetty answers itself (malformed HTTP, headers too large): the same JSON error object, no stack trace. */
    private static final class JsonErrorHandler extends ErrorHandler {
        JsonErrorHandler() {
            setShowStacks(false);
            setShowCauses(false);
        }

        @Override
        protected void generateResponse(
                Request request, Response response, int code, String message, Throwable cause, Callback callback) {
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
            response.write(true, ByteBuffer.wrap(body(code, message).getBytes(StandardCharsets.UTF_8)), callback);
        }

        @Override
        public ByteBuffer badMessageError(int status, String reason, HttpFields.Mutable fields) {
            fields.put(HttpHeader.CONTENT_TYPE, "application/json");
            return ByteBuffer.wrap(body(status, reason).getBytes(StandardCharsets.UTF_8));
        }

        private static String body(int code, String message) {
            ApiException e = new ApiException(
                    code,
                    code >= 500 ? "server_error" : "invalid_request_error",
                    null,
                    null,
                    message == null || message.isBlank() ? "HTTP " + code : message,
                    0);
            return OpenAiJson.error(e).toString();
        }
    }
}
