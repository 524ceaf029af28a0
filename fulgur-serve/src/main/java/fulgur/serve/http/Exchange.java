package fulgur.serve.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Blocker;
import org.eclipse.jetty.util.Callback;

/**
 * One HTTP request and its response, as the endpoints use them: the body read within a size limit, JSON answers,
 * and a server-sent event stream whose writes block (handlers run on virtual threads).
 */
final class Exchange {
    private static final byte[] SSE_DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII);

    final Request request;
    final Response response;
    private final Callback callback;
    private final ObjectMapper mapper;
    private boolean completed;
    private ClientWatch watch;

    Exchange(Request request, Response response, Callback callback, ObjectMapper mapper) {
        this.request = request;
        this.response = response;
        this.callback = callback;
        this.mapper = mapper;
    }

    String method() {
        return request.getMethod();
    }

    String path() {
        return request.getHttpURI().getPath();
    }

    String header(HttpHeader h) {
        return request.getHeaders().get(h);
    }

    /**
     * Runs {@code onGone} (once or more) when the client goes away or the connection fails while the answer is being
     * prepared. Call it after the body has been read.
     */
    void onClientGone(Runnable onGone) {
        request.addFailureListener(t -> onGone.run());
        watch = ClientWatch.start(request, onGone);
    }

    /** Reads and drops up to {@code bytes} bytes of the body. */
    private void drain(long bytes) throws IOException {
        try (InputStream in = Request.asInputStream(request)) {
            skipUpTo(in, bytes);
        }
    }

    private static void skipUpTo(InputStream in, long bytes) throws IOException {
        long dropped = 0;
        for (long n; dropped < bytes && (n = in.skip(bytes - dropped)) > 0; ) {
            dropped += n;
        }
    }

    /** Withdraws the client watch before the response completes (Jetty must find no read pending then). */
    private void unwatch() {
        if (watch != null) {
            watch.stop();
            if (watch.readAhead() && !response.isCommitted()) {
                response.getHeaders().put(HttpHeader.CONNECTION, "close");
            }
        }
    }

    /**
     * Bytes of a refused body read and dropped before the 413 goes out: a client still sending when the server answers
     * and closes may see its connection reset instead of the answer, so small overruns are read to their end (larger
     * ones are answered at once, and the connection closed).
     */
    static final long DRAIN_BYTES = 64 << 10;

    /** The body as JSON, refused with 413 beyond {@code maxBytes} and with 400 when it is not JSON. */
    JsonNode readJson(long maxBytes) throws IOException {
        long declared = request.getLength();
        if (declared > maxBytes) {
            if (declared <= maxBytes + DRAIN_BYTES) {
                drain(declared);
            }
            throw ApiException.tooLarge("The request body has " + declared + " bytes, more than this server's limit of "
                    + maxBytes + " bytes.");
        }
        byte[] body;
        try (InputStream in = Request.asInputStream(request)) {
            body = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, maxBytes + 1));
            if (body.length > maxBytes) {
                skipUpTo(in, DRAIN_BYTES);
            }
        }
        if (body.length > maxBytes) {
            throw ApiException.tooLarge(
                    "The request body is larger than this server's limit of " + maxBytes + " bytes.");
        }
        if (body.length == 0) {
            throw ApiException.invalid(null, "invalid_json", "The request has no body; the API expects a JSON object.");
        }
        try {
            return mapper.readTree(body);
        } catch (JsonProcessingException e) {
            throw ApiException.invalid(
                    null,
                    "invalid_json",
                    "We could not parse the JSON body of your request: " + e.getOriginalMessage()
                            + (e.getLocation() != null
                                    ? " (line " + e.getLocation().getLineNr() + ", column "
                                            + e.getLocation().getColumnNr() + ")"
                                    : "")
                            + ".");
        }
    }

    void sendJson(int status, JsonNode body) {
        byte[] bytes;
        try {
            bytes = mapper.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        send(status, "application/json", bytes);
    }

    void send(int status, String contentType, byte[] bytes) {
        unwatch();
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, bytes.length);
        completed = true;
        response.write(true, ByteBuffer.wrap(bytes), callback);
    }

    void sendError(ApiException e) {
        if (e.retryAfterSeconds > 0) {
            response.getHeaders().put(HttpHeader.RETRY_AFTER, Integer.toString(e.retryAfterSeconds));
        }
        if (e.status == 401) {
            response.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, "Bearer");
        }
        sendJson(e.status, OpenAiJson.error(e));
    }

    boolean isCommitted() {
        return response.isCommitted();
    }

    boolean isCompleted() {
        return completed;
    }

    /** Starts a server-sent event stream (status 200, headers sent with the first event). */
    void startEvents() {
        response.setStatus(200);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
        response.getHeaders().put("X-Accel-Buffering", "no");
    }

    /** Appends one {@code data: <json>} event to {@code out}. */
    void appendEvent(StringBuilder out, JsonNode data) {
        try {
            out.append("data: ").append(mapper.writeValueAsString(data)).append("\n\n");
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The pre-serialised text chunks of one stream, written as {@link #appendEvent} would write them. */
    TextChunks textChunks(
            OpenAiJson.Kind kind, String id, long created, String model, int choices, boolean usageField) {
        return new TextChunks(kind, id, created, model, choices, usageField, mapper);
    }

    /** Writes events and waits until they are sent; an IOException means the client is gone. */
    void writeEvents(CharSequence events) throws IOException {
        try (Blocker.Callback cb = Blocker.callback()) {
            response.write(false, ByteBuffer.wrap(events.toString().getBytes(StandardCharsets.UTF_8)), cb);
            cb.block();
        }
    }

    /** Ends the stream with {@code data: [DONE]}. */
    void endEvents() {
        unwatch();
        completed = true;
        response.write(true, ByteBuffer.wrap(SSE_DONE), callback);
    }

    /** Completes a response that could not be finished (client gone). */
    void abort(Throwable cause) {
        unwatch();
        if (!completed) {
            completed = true;
            callback.failed(cause);
        }
    }
}
