package fulgur.serve.http;

import fulgur.serve.Engine;
import fulgur.serve.EngineStats;
import fulgur.serve.FinishReason;
import fulgur.serve.GenerationRequest;
import fulgur.serve.ModelInfo;
import fulgur.serve.RejectedRequestException;
import fulgur.serve.RequestHandle;
import fulgur.serve.TokenSink;
import fulgur.serve.Usage;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A test engine that answers every request with the same scripted tokens (one text piece each) and finish reason,
 * on its own thread, as the real engine would: tokens in order, then one finish. It records what it was asked and
 * which handles were cancelled. {@link #holdAfter} makes requests wait after that many tokens until cancelled.
 */
final class ScriptedEngine implements Engine {
    static final String CONFIG = "{\"model_type\": \"transnormer\", \"vocab_size\": 257, \"decoder_embed_dim\": 32}";

    private final Tokenizer tok;
    private final List<String> pieces;
    private final FinishReason finish;
    final List<GenerationRequest> submitted = new CopyOnWriteArrayList<>();
    final List<Handle> handles = new CopyOnWriteArrayList<>();
    volatile int holdAfter = -1;
    volatile long delayMillis;
    volatile RejectedRequestException reject;
    volatile RuntimeException crash;
    volatile String failWith;
    private final AtomicInteger running = new AtomicInteger();

    ScriptedEngine(List<String> pieces, FinishReason finish) {
        this(pieces, finish, ByteTokenizer.withEndOfText());
    }

    ScriptedEngine(List<String> pieces, FinishReason finish, Tokenizer tok) {
        this.tok = tok;
        this.pieces = List.copyOf(pieces);
        this.finish = finish;
    }

    @Override
    public ModelInfo model() {
        return new ModelInfo("test-model", "tnl", CONFIG, 257, 12_345, "cpu", 4096);
    }

    @Override
    public Tokenizer tokenizer() {
        return tok;
    }

    @Override
    public RequestHandle submit(GenerationRequest request, TokenSink sink) {
        if (reject != null) {
            throw reject;
        }
        if (crash != null) {
            throw crash;
        }
        submitted.add(request);
        Handle h = new Handle();
        handles.add(h);
        running.incrementAndGet();
        Thread.ofVirtual().start(() -> {
            try {
                run(request, sink, h);
            } finally {
                running.decrementAndGet();
                h.done = true;
            }
        });
        return h;
    }

    private void run(GenerationRequest request, TokenSink sink, Handle h) {
        int n = 0;
        try {
            for (String piece : pieces.subList(0, Math.min(pieces.size(), request.maxTokens()))) {
                if (n == holdAfter) {
                    h.cancelled.await(30, TimeUnit.SECONDS);
                }
                if (h.cancelled.getCount() == 0) {
                    sink.onFinish(FinishReason.CANCELLED, new Usage(request.prompt().length, n, 0));
                    return;
                }
                if (delayMillis > 0) {
                    Thread.sleep(delayMillis);
                }
                if (failWith != null && n == 1) {
                    sink.onError(failWith);
                    return;
                }
                sink.onToken(100 + n, piece);
                n++;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        FinishReason r = n < pieces.size() ? FinishReason.LENGTH : finish;
        sink.onFinish(r, new Usage(request.prompt().length, n, 0));
    }

    /** Waits until some handle was cancelled. */
    boolean awaitCancel(long millis) throws InterruptedException {
        long end = System.currentTimeMillis() + millis;
        while (System.currentTimeMillis() < end) {
            if (handles.stream().anyMatch(Handle::isCancelled)) {
                return true;
            }
            Thread.sleep(10);
        }
        return false;
    }

    @Override
    public EngineStats stats() {
        return new EngineStats(running.get(), 0, 1024L * running.get(), 0, 0, handles.size(), 0, 0, 0, 0);
    }

    @Override
    public void close() {
        handles.forEach(Handle::cancel);
    }

    static final class Handle implements RequestHandle {
        final CountDownLatch cancelled = new CountDownLatch(1);
        volatile boolean done;

        @Override
        public void cancel() {
            cancelled.countDown();
        }

        boolean isCancelled() {
            return cancelled.getCount() == 0;
        }

        @Override
        public boolean isDone() {
            return done;
        }
    }
}
