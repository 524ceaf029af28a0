package fulgur.serve.engine;

import fulgur.generate.Sampler;
import fulgur.ops.attention.PagedKvCache;
import fulgur.serve.GenerationRequest;
import fulgur.serve.RequestHandle;
import fulgur.serve.SamplingParams;
import fulgur.serve.TokenSink;
import fulgur.tokenizer.Tokenizer;

/**
 * One request inside the engine, from submission to its sink's last call. Its fields belong to the engine's thread;
 * only the cancellation flag and {@link #isDone} cross threads.
 */
final class Active implements RequestHandle {
    enum Phase {
        WAITING,
        PREFILL,
        DECODE,
        DONE
    }

    final GenerationRequest request;
    final int[] prompt;
    final TokenSink sink;
    final long submittedNanos;
    final long deadlineNanos;
    final long reservedBytes;
    final Sampler sampler;
    /** Temperature 0: the token is the argmax, picked on the model's device. */
    final boolean greedy;

    final TextStream text;
    private final Runnable wake;
    private volatile boolean cancelRequested;
    private volatile boolean done;

    Phase phase = Phase.WAITING;
    /** Row of the state pool, -1 when none. */
    int slot = -1;
    /** Tokens the model has consumed. */
    int position;
    /** No token consumed yet: the slot's old contents are ignored by the first forward. */
    boolean fresh = true;

    PagedKvCache.Sequence kv;
    int cachedTokens;
    /** Whether the engine has weighed holding its prefill back for a step: it does so once per prompt at most. */
    boolean heldBack;
    /** The prompt's last logits when a cached state covered the whole prompt. */
    float[] startLogits;
    /** The token the next decode step feeds. */
    int lastToken;

    int completion;
    long lastTokenNanos;

    Active(
            GenerationRequest request,
            TokenSink sink,
            Tokenizer tok,
            long submittedNanos,
            long deadlineNanos,
            long reservedBytes,
            Runnable wake) {
        this.request = request;
        this.prompt = request.prompt();
        this.sink = sink;
        this.submittedNanos = submittedNanos;
        this.deadlineNanos = deadlineNanos;
        this.reservedBytes = reservedBytes;
        SamplingParams p = request.sampling() == null ? SamplingParams.GREEDY : request.sampling();
        this.sampler = new Sampler(p.temperature(), p.topK(), p.topP(), p.seed());
        this.greedy = p.temperature() == 0;
        this.text = new TextStream(tok, request.stop());
        this.wake = wake;
    }

    @Override
    public void cancel() {
        cancelRequested = true;
        wake.run();
    }

    @Override
    public boolean isDone() {
        return done;
    }

    boolean cancelRequested() {
        return cancelRequested;
    }

    void markDone() {
        phase = Phase.DONE;
        done = true;
    }
}
