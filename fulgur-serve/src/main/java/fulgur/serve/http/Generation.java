package fulgur.serve.http;

import fulgur.serve.Engine;
import fulgur.serve.FinishReason;
import fulgur.serve.GenerationRequest;
import fulgur.serve.RejectedRequestException;
import fulgur.serve.RequestHandle;
import fulgur.serve.TokenSink;
import fulgur.serve.Usage;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The engine requests behind one HTTP request (one per choice), seen as a single queue of events. The engine's
 * sinks only enqueue (they must not block); the HTTP handler thread drains the queue and writes. Cancelling cancels
 * every choice at the engine.
 */
final class Generation implements AutoCloseable {

    sealed interface Event {
        int choice();
    }

    record Text(int choice, String text) implements Event {}

    record Finished(int choice, FinishReason reason, Usage usage) implements Event {}

    record Failed(int choice, String message) implements Event {}

    private final LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private final List<RequestHandle> handles = new ArrayList<>();
    private final ServerMetrics metrics;
    private volatile boolean cancelled;
    private int open;

    private Generation(ServerMetrics metrics) {
        this.metrics = metrics;
    }

    /**
     * Submits every request (choice i is {@code requests.get(i)}). If the engine refuses one, those already submitted
     * are cancelled and the refusal becomes the HTTP answer: 429 when the queue is full, 400 when it can never run.
     */
    static Generation start(Engine engine, List<GenerationRequest> requests, ServerMetrics metrics) {
        Generation g = new Generation(metrics);
        try {
            for (int i = 0; i < requests.size(); i++) {
                GenerationRequest r = requests.get(i);
                RequestHandle h = engine.submit(r, g.new Choice(i, r.prompt().length));
                synchronized (g.handles) {
                    g.handles.add(h);
                }
                g.open++;
            }
        } catch (RejectedRequestException e) {
            g.cancel();
            throw switch (e.reason()) {
                case QUEUE_FULL ->
                    ApiException.busy(
                            "The server is busy: " + e.getMessage() + ". Retry later.", e.retryAfterSeconds());
                case TOO_LARGE -> ApiException.invalid(null, "context_length_exceeded", e.getMessage());
            };
        } catch (IllegalArgumentException e) {
            g.cancel();
            throw ApiException.invalid(null, "invalid_value", e.getMessage());
        } catch (IllegalStateException e) {
            g.cancel();
            throw new ApiException(
                    503,
                    "server_error",
                    null,
                    "unavailable",
                    "The engine is not accepting requests: " + e.getMessage(),
                    0);
        }
        return g;
    }

    /** The next event, or null after {@code timeoutMillis} without one. */
    Event next(long timeoutMillis) throws InterruptedException {
        Event e = events.poll(timeoutMillis, TimeUnit.MILLISECONDS);
        if (e instanceof Finished || e instanceof Failed) {
            open--;
        }
        return e;
    }

    /** An event if one is waiting, else null. */
    Event poll() {
        Event e = events.poll();
        if (e instanceof Finished || e instanceof Failed) {
            open--;
        }
        return e;
    }

    /** Choices that have not finished yet. */
    int open() {
        return open;
    }

    boolean isCancelled() {
        return cancelled;
    }

    /** Cancels every choice at the engine (idempotent, any thread). */
    void cancel() {
        cancelled = true;
        List<RequestHandle> hs;
        synchronized (handles) {
            hs = List.copyOf(handles);
        }
        for (RequestHandle h : hs) {
            if (!h.isDone()) {
                h.cancel();
            }
        }
    }

    /** Cancels what is still running (a handler that leaves early must not leave work behind). */
    @Override
    public void close() {
        if (open > 0) {
            cancel();
        }
    }

    private final class Choice implements TokenSink {
        private final int index;
        private final int promptTokens;
        private final long submitted = System.nanoTime();
        private long last;

        Choice(int index, int promptTokens) {
            this.index = index;
            this.promptTokens = promptTokens;
        }

        @Override
        public void onToken(int token, String text) {
            long now = System.nanoTime();
            if (last == 0) {
                metrics.firstToken(now - submitted);
            } else {
                metrics.nextToken(now - last);
            }
            last = now;
            if (!text.isEmpty()) {
                events.add(new Text(index, text));
            }
        }

        @Override
        public void onFinish(FinishReason reason, Usage usage) {
            metrics.finished(System.nanoTime() - submitted, promptTokens, usage.completionTokens());
            events.add(new Finished(index, reason, usage));
        }

        @Override
        public void onError(String message) {
            events.add(new Failed(index, message));
        }
    }
}
