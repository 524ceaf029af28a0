package fulgur.serve.engine;

import fulgur.serve.FinishReason;
import fulgur.serve.TokenSink;
import fulgur.serve.Usage;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** A sink that records what the engine hands it, in order, and checks the engine keeps its contract. */
class Collect implements TokenSink {
    final List<Integer> tokens = new ArrayList<>();
    final StringBuilder text = new StringBuilder();
    volatile FinishReason reason;
    volatile Usage usage;
    volatile String error;
    private final CountDownLatch done = new CountDownLatch(1);
    private volatile boolean ended;

    @Override
    public synchronized void onToken(int token, String t) {
        if (ended) {
            throw new AssertionError("a token after the request ended");
        }
        tokens.add(token);
        text.append(t);
    }

    @Override
    public void onFinish(FinishReason reason, Usage usage) {
        end();
        this.usage = usage;
        this.reason = reason;
        done.countDown();
    }

    @Override
    public void onError(String message) {
        end();
        this.error = message;
        done.countDown();
    }

    private synchronized void end() {
        if (ended) {
            throw new AssertionError("a second final call");
        }
        ended = true;
    }

    boolean finished() {
        return done.getCount() == 0;
    }

    void await() throws InterruptedException {
        if (!done.await(60, TimeUnit.SECONDS)) {
            throw new AssertionError("the request did not end within a minute");
        }
    }

    synchronized int[] ids() {
        return tokens.stream().mapToInt(Integer::intValue).toArray();
    }
}
