package fulgur.serve.engine;

import fulgur.autograd.GradMode;
import fulgur.models.BatchState;
import fulgur.models.CausalLM;
import fulgur.models.DecodeCache;
import fulgur.ops.attention.PagedKvCache;
import fulgur.serve.Engine;
import fulgur.serve.EngineListener;
import fulgur.serve.EngineOptions;
import fulgur.serve.EngineStats;
import fulgur.serve.FinishReason;
import fulgur.serve.GenerationRequest;
import fulgur.serve.ModelInfo;
import fulgur.serve.RejectedRequestException;
import fulgur.serve.RequestHandle;
import fulgur.serve.TokenSink;
import fulgur.serve.Usage;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.tokenizer.Tokenizer;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Continuous batching over recurrent states, on one engine thread. Every step
 * <ol>
 *   <li>takes in new requests, finishes cancelled ones and those past their deadline;</li>
 *   <li>admits waiting requests (in order) while their memory fits the budget and a state slot is free, resuming each
 *       from the longest cached prefix state;</li>
 *   <li>prefills one chunk of each admitted prompt (chunks end at multiples of {@code prefillChunkTokens}, the model's
 *       chunked forms from the row's state; prompts in neighbouring slots at the same point of their chunks share one
 *       forward; while others decode, a few short prompts not held before wait one step, to share a forward with
 *       those admitted next); a finished prompt samples its first token and joins the decode batch;</li>
 *   <li>advances every decoding sequence by one token in ONE forward of [B, 1] ids against pool rows [0, B), which the
 *       recurrent forms update in place ({@link DecodeStep}: greedy picks on the device, a recorded graph where the
 *       device allows), and samples each row with its own settings.</li>
 * </ol>
 * Decoding sequences occupy pool rows [0, B) (a leaving sequence's row is refilled by the last one), so the batch
 * binds the pool without gathering. Memory is reserved at admission for a request's whole life (state slot plus
 * keys and values for its prompt and maxTokens), so a running request never waits for memory and nothing blocks.
 */
final class BatchingEngine implements Engine {
    private final CausalLM model;
    private final Tokenizer tok;
    private final ModelInfo info;
    private final EngineOptions options;
    private final AutoCloseable owned;
    private final Device device;
    private final StateLayout layout;
    private final StatePool pool;
    private final PagedKvCache kv;
    private final PrefixStateCache cache;
    private final DecodeStep step;
    private final int chunk;
    private final int cacheInterval;
    private final int vocab;
    /** The tokenizer's vocabulary: ids at and past it (a padded model vocabulary) are never picked or sampled. */
    private final int textVocab;

    private final int eos;

    private final LinkedBlockingQueue<Object> inbox = new LinkedBlockingQueue<>();
    private final AtomicInteger queued = new AtomicInteger();
    private final List<EngineListener> listeners = new CopyOnWriteArrayList<>();
    private final Thread thread;
    private volatile boolean closing;
    private volatile boolean closed;

    // engine-thread state
    private final ArrayDeque<Active> waiting = new ArrayDeque<>();
    private final List<Active> prefilling = new ArrayList<>();
    private final Active[] slotOwner;
    private int decoding;
    private long reserved;

    // published counters (written by the engine thread only)
    private volatile int running;
    private volatile long stateBytes;
    private volatile long kvBytes;
    private volatile long cacheBytes;
    private volatile long requests;
    private volatile long promptTokens;
    private volatile long cachedPromptTokens;
    private volatile long completionTokens;
    private volatile long steps;

    /**
     * @param owned closed with the engine (the model an {@link Engines#load} read), or null
     * @param threaded false for an engine driven by {@link #runStep} (tests)
     */
    BatchingEngine(
            CausalLM model, Tokenizer tok, String id, EngineOptions options, AutoCloseable owned, boolean threaded) {
        this.model = model;
        this.tok = tok;
        this.options = checked(options);
        this.owned = owned;
        if (tok.vocabSize() > model.vocabSize()) {
            throw new IllegalArgumentException(
                    "the tokenizer has " + tok.vocabSize() + " tokens but the model only " + model.vocabSize());
        }
        this.vocab = model.vocabSize();
        this.textVocab = tok.vocabSize();
        this.eos = tok.eosId().orElse(-1);
        this.device = model.module().device();
        model.module().train(false);
        this.layout = StateLayout.probe(model, device);
        long slotBytes = layout.slotBytes();
        int slots = options.maxRunning();
        if (slotBytes > 0) {
            slots = (int) Math.max(1, Math.min(slots, options.memoryBudgetBytes() / slotBytes));
        }
        this.pool = new StatePool(layout, slots, device);
        this.slotOwner = new Active[slots];
        this.kv = layout.hasSoftmaxLayers() ? new PagedKvCache(PagedKvCache.DEFAULT_BLOCK_TOKENS) : null;
        this.chunk = options.prefillChunkTokens();
        this.cacheInterval =
                options.stateCacheInterval() <= 0 ? 0 : (options.stateCacheInterval() + chunk - 1) / chunk * chunk;
        this.cache = new PrefixStateCache(options.stateCacheBytes(), chunk);
        this.step = new DecodeStep(model, pool, device, options.decodeGraphs(), layout.hasSoftmaxLayers(), textVocab);
        String arch;
        try {
            arch = fulgur.models.Architectures.forConfig(model.configJson()).name();
        } catch (IllegalArgumentException e) {
            arch = model.getClass().getSimpleName();
        }
        this.info = new ModelInfo(
                id,
                arch,
                model.configJson(),
                vocab,
                model.module().parameterCount(),
                device.toString(),
                options.maxPromptTokens() + options.maxNewTokens());
        if (threaded) {
            thread =
                    Thread.ofPlatform().name("fulgur-engine-" + id).daemon(true).unstarted(this::loop);
            thread.start();
        } else {
            thread = null;
        }
    }

    private static EngineOptions checked(EngineOptions o) {
        List<String> p = new ArrayList<>();
        if (o.maxRunning() < 1) {
            p.add("maxRunning must be >= 1, got " + o.maxRunning());
        }
        if (o.maxQueued() < 0) {
            p.add("maxQueued must be >= 0, got " + o.maxQueued());
        }
        if (o.maxPromptTokens() < 1 || o.maxNewTokens() < 0) {
            p.add("maxPromptTokens must be >= 1 and maxNewTokens >= 0, got " + o.maxPromptTokens() + " and "
                    + o.maxNewTokens());
        }
        if (o.prefillChunkTokens() < 1) {
            p.add("prefillChunkTokens must be >= 1, got " + o.prefillChunkTokens());
        }
        if (o.memoryBudgetBytes() < 1 || o.stateCacheBytes() < 0) {
            p.add("memoryBudgetBytes must be > 0 and stateCacheBytes >= 0");
        }
        if (o.decodeGraphs() < 0) {
            p.add("decodeGraphs must be >= 0, got " + o.decodeGraphs());
        }
        if (o.defaultTimeout() == null
                || o.defaultTimeout().isNegative()
                || o.defaultTimeout().isZero()) {
            p.add("defaultTimeout must be positive, got " + o.defaultTimeout());
        }
        if (!p.isEmpty()) {
            throw new IllegalArgumentException("engine options: " + String.join("; ", p));
        }
        return o;
    }

    @Override
    public ModelInfo model() {
        return info;
    }

    @Override
    public Tokenizer tokenizer() {
        return tok;
    }

    @Override
    public void addListener(EngineListener listener) {
        listeners.add(listener);
    }

    /** Bytes a request reserves for its whole life: a state slot and keys/values for every token it may hold. */
    long reservation(int promptTokens, int maxTokens) {
        long kvTokens = 0;
        if (layout.kvBytesPerToken() > 0) {
            int block = PagedKvCache.DEFAULT_BLOCK_TOKENS;
            kvTokens = ((long) promptTokens + maxTokens + block - 1) / block * block;
        }
        return layout.slotBytes() + kvTokens * layout.kvBytesPerToken();
    }

    @Override
    public RequestHandle submit(GenerationRequest request, TokenSink sink) {
        if (request == null || sink == null) {
            throw new IllegalArgumentException("submit: request and sink must not be null");
        }
        if (closing) {
            throw new IllegalStateException("the engine is closed");
        }
        int[] prompt = request.prompt();
        if (prompt.length > options.maxPromptTokens()) {
            throw new RejectedRequestException(
                    RejectedRequestException.Reason.TOO_LARGE,
                    "the prompt has " + prompt.length + " tokens, more than the " + options.maxPromptTokens()
                            + " this engine accepts",
                    0);
        }
        if (request.maxTokens() > options.maxNewTokens()) {
            throw new RejectedRequestException(
                    RejectedRequestException.Reason.TOO_LARGE,
                    "max tokens " + request.maxTokens() + " is more than the " + options.maxNewTokens()
                            + " this engine accepts",
                    0);
        }
        for (int i = 0; i < prompt.length; i++) {
            if (prompt[i] < 0 || prompt[i] >= vocab) {
                throw new IllegalArgumentException(
                        "prompt token " + i + " is " + prompt[i] + ", outside the vocabulary [0, " + vocab + ")");
            }
        }
        long need = reservation(prompt.length, request.maxTokens());
        if (need > options.memoryBudgetBytes()) {
            throw new RejectedRequestException(
                    RejectedRequestException.Reason.TOO_LARGE,
                    "the request needs " + need
                            + " bytes of state and keys/values, more than the engine's whole budget of "
                            + options.memoryBudgetBytes(),
                    0);
        }
        if (queued.incrementAndGet() > options.maxQueued()) {
            queued.decrementAndGet();
            throw new RejectedRequestException(
                    RejectedRequestException.Reason.QUEUE_FULL,
                    options.maxQueued() + " requests are already waiting; retry later",
                    1);
        }
        long now = System.nanoTime();
        Instant deadline =
                request.deadline() != null ? request.deadline() : Instant.now().plus(options.defaultTimeout());
        long left = Duration.between(Instant.now(), deadline).toNanos();
        Active a = new Active(request, sink, tok, now, now + Math.max(0, left), need, this::wake);
        inbox.add(a);
        if (closed && inbox.remove(a)) {
            queued.decrementAndGet();
            throw new IllegalStateException("the engine is closed");
        }
        return a;
    }

    private void wake() {
        // the engine polls its inbox when idle; an empty marker wakes it to look at cancellations
        inbox.add(Boolean.TRUE);
    }

    @Override
    public EngineStats stats() {
        return new EngineStats(
                running,
                queued.get(),
                stateBytes,
                kvBytes,
                cacheBytes,
                requests,
                promptTokens,
                cachedPromptTokens,
                completionTokens,
                steps);
    }

    @Override
    public void close() {
        if (closing && (thread == null || !thread.isAlive())) {
            return;
        }
        closing = true;
        if (thread != null) {
            inbox.add(Boolean.FALSE);
            if (Thread.currentThread() != thread) {
                try {
                    thread.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        } else {
            shutdown();
        }
    }

    // ------------------------------------------------------------------------------------------ engine thread

    private void loop() {
        try {
            while (!closing) {
                boolean worked = runStep();
                if (!worked && !closing) {
                    idleWait();
                }
            }
        } finally {
            shutdown();
        }
    }

    /** Waits for a submission (or a wake-up) while nothing can run; bounded by the earliest waiting deadline. */
    private void idleWait() {
        long wait = TimeUnit.MILLISECONDS.toNanos(200);
        long now = System.nanoTime();
        for (Active a : waiting) {
            wait = Math.min(wait, Math.max(0, a.deadlineNanos - now));
        }
        try {
            Object o = inbox.poll(wait, TimeUnit.NANOSECONDS);
            if (o instanceof Active a) {
                waiting.add(a);
            }
        } catch (InterruptedException e) {
            closing = true;
        }
    }

    /** One engine step; whether a forward ran or a request moved. For tests, steps may be driven by hand. */
    boolean runStep() {
        try (var g = GradMode.noGrad();
                Scope s = Scope.open("engine-step")) {
            drainInbox();
            boolean moved = expire(System.nanoTime());
            moved |= admit();
            boolean forward = prefill();
            forward |= decode();
            if (forward) {
                steps++;
            }
            publish();
            return forward || moved;
        }
    }

    private void drainInbox() {
        Object o;
        while ((o = inbox.poll()) != null) {
            if (o instanceof Active a) {
                waiting.add(a);
            }
        }
    }

    /** Finishes cancelled requests and those past their deadline, wherever they are. */
    private boolean expire(long now) {
        boolean any = false;
        for (Iterator<Active> it = waiting.iterator(); it.hasNext(); ) {
            Active a = it.next();
            FinishReason r = a.cancelRequested()
                    ? FinishReason.CANCELLED
                    : now - a.deadlineNanos >= 0 ? FinishReason.TIMEOUT : null;
            if (r != null) {
                it.remove();
                queued.decrementAndGet();
                finish(a, r);
                any = true;
            }
        }
        List<Active> active = new ArrayList<>(prefilling);
        for (int i = 0; i < decoding; i++) {
            active.add(slotOwner[i]);
        }
        for (Active a : active) {
            FinishReason r = a.cancelRequested()
                    ? FinishReason.CANCELLED
                    : now - a.deadlineNanos >= 0 ? FinishReason.TIMEOUT : null;
            if (r != null) {
                finish(a, r);
                any = true;
            }
        }
        return any;
    }

    private boolean admit() {
        boolean any = false;
        while (!waiting.isEmpty()) {
            Active a = waiting.peek();
            if (prefilling.size() + decoding >= slotOwner.length
                    || reserved + a.reservedBytes > options.memoryBudgetBytes()) {
                break;
            }
            waiting.poll();
            queued.decrementAndGet();
            any = true;
            admitOne(a);
        }
        return any;
    }

    private void admitOne(Active a) {
        int slot = slotOwner.length - 1;
        while (slotOwner[slot] != null) {
            slot--;
        }
        a.slot = slot;
        slotOwner[slot] = a;
        reserved += a.reservedBytes;
        a.phase = Active.Phase.PREFILL;
        promptTokens += a.prompt.length;
        if (a.request.maxTokens() == 0) {
            finish(a, FinishReason.LENGTH);
            return;
        }
        PrefixStateCache.Entry e = cache.lookup(a.prompt);
        if (e != null) {
            pool.restore(slot, e.state);
            a.position = e.length();
            a.fresh = false;
            a.cachedTokens = e.length();
            a.startLogits = e.length() == a.prompt.length ? e.logits : null;
            cachedPromptTokens += e.length();
            if (kv != null) {
                a.kv = e.kv.share(e.length());
            }
        } else if (kv != null) {
            a.kv = kv.newSequence();
        }
        prefilling.add(a);
    }

    /** Rows whose forwards may share one prefill forward together: at most this many prompt tokens. */
    private static final int PREFILL_BATCH_TOKENS = 8192;

    /** What a prefill forward left for a prompt that reached its end: its first token's source. */
    private record PromptEnd(int greedy, float[] logits) {}

    /**
     * One chunk of every admitted prompt; finished prompts sample their first token and join the decode batch. Prompts
     * in consecutive slots whose chunks have the same length and that all start fresh (or all continue) go through
     * one forward of [n, chunk] ids over their pool rows; all forwards run before any prompt joins the decode batch
     * (joining moves slots).
     */
    private boolean prefill() {
        if (prefilling.isEmpty()) {
            return false;
        }
        boolean any = false;
        Map<Active, PromptEnd> ends = new HashMap<>();
        List<Active> todo = new ArrayList<>();
        for (Active a : prefilling) {
            if (a.startLogits == null) {
                todo.add(a);
            }
        }
        if (holdBack(todo)) {
            todo.clear();
        }
        todo.sort(Comparator.comparingInt(a -> a.slot));
        for (int i = 0; i < todo.size(); ) {
            int n = chunkEnd(todo.get(i)) - todo.get(i).position;
            int j = i + 1;
            while (j < todo.size()
                    && (j - i + 1) * n <= PREFILL_BATCH_TOKENS
                    && together(todo.get(j - 1), todo.get(j), n)) {
                j++;
            }
            List<Active> group = todo.subList(i, j);
            any = true;
            try (Scope s = Scope.open("prefill")) {
                prefillChunk(group, n, ends);
            } catch (RuntimeException e) {
                for (Active a : group) {
                    fail(a, "generation failed: " + message(e));
                }
            }
            i = j;
        }
        for (Active a : new ArrayList<>(prefilling)) {
            int token;
            if (a.startLogits != null) {
                token = sample(a, a.startLogits, 0);
                a.startLogits = null;
            } else {
                PromptEnd end = ends.get(a);
                if (end == null) {
                    continue; // more chunks to go (or failed above)
                }
                token = end.greedy >= 0 ? end.greedy : sample(a, end.logits, 0);
            }
            prefilling.remove(a);
            if (token >= 0 && !deliver(a, token)) {
                joinDecode(a);
            }
        }
        return any;
    }

    /**
     * Whether the prompts of {@code todo} wait for the next step: while other sequences decode, prompts too few to
     * fill a chunk's worth of tokens, none of them started or held before, are held for one decode step, so that those
     * admitted meanwhile (clients come back together when their streams end together) share their forward. On the CPU
     * a forward of a few prompts costs a good part of one of many (each reads all the weights: prefilling one 42-token
     * prompt of a 14M-parameter model takes about as long as a decode step of 64 rows), and every extra forward is
     * time the whole batch waits; a held prompt's first token comes one decode step later. Marks the prompts as weighed,
     * held or not, so none waits twice.
     */
    private boolean holdBack(List<Active> todo) {
        if (decoding == 0 || todo.isEmpty()) {
            return false;
        }
        long tokens = 0;
        boolean hold = true;
        for (Active a : todo) {
            tokens += chunkEnd(a) - a.position;
            hold &= !a.heldBack && a.position == a.cachedTokens;
            a.heldBack = true;
        }
        return hold && tokens < chunk;
    }

    /** Where a's next chunk ends: the next multiple of the chunk size, or the prompt's end. */
    private int chunkEnd(Active a) {
        return Math.min(a.prompt.length, (a.position / chunk + 1) * chunk);
    }

    /** Whether b's next chunk can share a forward with a's (b in the next slot, same chunk length, same freshness). */
    private boolean together(Active a, Active b, int n) {
        return kv == null && b.slot == a.slot + 1 && b.fresh == a.fresh && chunkEnd(b) - b.position == n;
    }

    /**
     * Prefills the next chunk (n tokens) of every prompt of {@code group} (consecutive slots) in one forward; prompts
     * that reach their end get their first token's source in {@code ends}.
     */
    private void prefillChunk(List<Active> group, int n, Map<Active, PromptEnd> ends) {
        int g = group.size();
        Active first = group.get(0);
        int[] flat = new int[g * n];
        long[] positions = new long[g];
        for (int r = 0; r < g; r++) {
            Active a = group.get(r);
            System.arraycopy(a.prompt, a.position, flat, r * n, n);
            positions[r] = a.position;
        }
        Tensor ids = Tensor.ofInts(flat, g, n);
        if (device.kind() != Device.Kind.CPU) {
            ids = ids.to(device);
        }
        PagedKvCache.Rows rows = kv == null ? null : kv.rows(List.of(first.kv), n);
        BatchState batch = new BatchState(pool.rows(first.slot, g), positions, first.fresh, rows);
        BatchLogits logits = null;
        boolean anyEnd = false;
        for (Active a : group) {
            anyEnd |= a.position + n == a.prompt.length;
        }
        try (DecodeCache c = model.newCache(batch)) {
            Tensor out = model.lastLogits(ids, c);
            if (anyEnd) {
                logits = BatchLogits.of(out, textVocab);
            }
        }
        for (int r = 0; r < g; r++) {
            Active a = group.get(r);
            int end = a.position + n;
            a.fresh = false;
            a.position = end;
            float[] row = null;
            if (end == a.prompt.length) {
                int pick = a.greedy ? logits.greedy(r) : -1;
                // the host needs the logits of rows that sample, that cannot be picked, or that the cache keeps
                row = pick >= 0 && !cache.enabled() ? null : logits.row(r);
                ends.put(a, new PromptEnd(pick, row));
            }
            remember(a, end, row);
        }
    }

    /**
     * Caches the state a prefill reached: at the prompt's end (with its logits), at the last chunk boundary of the prompt
     * (where a longer prompt starting with this one — the next turn of a chat — resumes) and every cache interval.
     */
    private void remember(Active a, int end, float[] logits) {
        if (!cache.enabled()) {
            return;
        }
        boolean atEnd = end == a.prompt.length;
        boolean boundary = end % chunk == 0
                && (end == a.prompt.length / chunk * chunk || cacheInterval > 0 && end % cacheInterval == 0);
        if (!atEnd && !boundary || cache.contains(a.prompt, end, atEnd)) {
            return;
        }
        Scope scope = Scope.detached("prefix-state");
        List<Tensor> state = pool.snapshot(a.slot, scope);
        PagedKvCache.Sequence shared = a.kv == null ? null : a.kv.share(end);
        cache.put(
                a.prompt,
                end,
                state,
                scope,
                shared,
                shared == null ? 0 : (long) end * layout.kvBytesPerToken(),
                atEnd ? logits : null);
    }

    /** One token for every decoding sequence, in one forward over pool rows [0, B). */
    private boolean decode() {
        int b = decoding;
        if (b == 0) {
            return false;
        }
        Active[] rows = Arrays.copyOf(slotOwner, b);
        int[] ids = new int[b];
        long[] positions = new long[b];
        List<PagedKvCache.Sequence> seqs = new ArrayList<>(b);
        for (int i = 0; i < b; i++) {
            ids[i] = rows[i].lastToken;
            positions[i] = rows[i].position;
            seqs.add(rows[i].kv);
        }
        BatchLogits logits;
        try (Scope s = Scope.open("decode")) {
            PagedKvCache.Rows kvRows = kv == null ? null : kv.rows(seqs, 1);
            logits = step.run(b, ids, positions, kvRows);
        } catch (RuntimeException e) {
            for (Active a : rows) {
                fail(a, "generation failed: " + message(e));
            }
            return true;
        }
        // rows is a snapshot: a row that finishes here gives its slot back at once, which may move another row
        for (int i = 0; i < b; i++) {
            Active a = rows[i];
            a.position++;
            int token = a.greedy ? logits.greedy(i) : -1;
            if (token < 0) {
                token = sample(a, logits.host(), i * vocab);
            }
            if (token >= 0) {
                deliver(a, token);
            }
        }
        return true;
    }

    /**
     * The next token of {@code a} from its row of {@code logits}, or -1 when the row cannot be sampled (NaN or infinite
     * logits: {@link fulgur.generate.Sampler} refuses them as text generation does), after failing {@code a} alone.
     */
    private int sample(Active a, float[] logits, int offset) {
        try {
            return a.sampler.sample(logits, offset, textVocab);
        } catch (IllegalStateException e) {
            fail(
                    a,
                    "generation failed "
                            + (a.completion == 0 ? "after the prompt" : "after " + a.completion + " generated tokens")
                            + ": " + message(e));
            return -1;
        }
    }

    /**
     * Hands a sampled token to the request: its text (held back while it may start a stop string), then the finish on
     * end-of-sequence, a stop string or maxTokens. Returns whether the request finished.
     */
    private boolean deliver(Active a, int token) {
        if (token == eos) {
            String rest = a.text.flush();
            if (!rest.isEmpty()) {
                emit(a, token, rest);
            }
            finish(a, FinishReason.STOP);
            return true;
        }
        a.completion++;
        completionTokens++;
        String t = a.text.add(token);
        if (a.text.stopped()) {
            emit(a, token, t);
            finish(a, FinishReason.STOP);
            return true;
        }
        if (a.completion >= a.request.maxTokens()) {
            emit(a, token, t + a.text.flush());
            finish(a, FinishReason.LENGTH);
            return true;
        }
        a.lastToken = token;
        return !emit(a, token, t);
    }

    /** Calls the sink; a sink that throws has its request cancelled. Returns whether the request goes on. */
    private boolean emit(Active a, int token, String text) {
        long now = System.nanoTime();
        Duration d = Duration.ofNanos(now - (a.lastTokenNanos == 0 ? a.submittedNanos : a.lastTokenNanos));
        boolean first = a.lastTokenNanos == 0;
        a.lastTokenNanos = now;
        for (EngineListener l : listeners) {
            quietly(() -> {
                if (first) {
                    l.onFirstToken(d);
                } else {
                    l.onNextToken(d);
                }
            });
        }
        try {
            a.sink.onToken(token, text);
            return true;
        } catch (RuntimeException e) {
            finish(a, FinishReason.CANCELLED);
            return false;
        }
    }

    private void joinDecode(Active a) {
        int target = decoding;
        if (a.slot != target) {
            Active other = slotOwner[target];
            if (other != null) {
                pool.swap(a.slot, target);
                other.slot = a.slot;
                slotOwner[a.slot] = other;
            } else {
                pool.copy(a.slot, target);
                slotOwner[a.slot] = null;
            }
            a.slot = target;
            slotOwner[target] = a;
        }
        a.phase = Active.Phase.DECODE;
        decoding++;
    }

    /** Gives back a request's slot (refilling a decode row from the last one), keys/values and reservation. */
    private void release(Active a) {
        if (a.phase == Active.Phase.PREFILL || a.phase == Active.Phase.DECODE) {
            reserved -= a.reservedBytes;
        }
        if (a.phase == Active.Phase.DECODE) {
            int last = decoding - 1;
            if (a.slot != last) {
                Active moved = slotOwner[last];
                pool.copy(last, a.slot);
                moved.slot = a.slot;
                slotOwner[a.slot] = moved;
            }
            slotOwner[last] = null;
            decoding--;
        } else if (a.phase == Active.Phase.PREFILL) {
            prefilling.remove(a);
            slotOwner[a.slot] = null;
        }
        a.slot = -1;
        if (a.kv != null) {
            a.kv.close();
            a.kv = null;
        }
    }

    private void finish(Active a, FinishReason reason) {
        if (a.isDone()) {
            return;
        }
        release(a);
        a.markDone();
        requests++;
        Usage usage = new Usage(a.prompt.length, a.completion, a.cachedTokens);
        Duration total = Duration.ofNanos(System.nanoTime() - a.submittedNanos);
        for (EngineListener l : listeners) {
            quietly(() -> l.onFinish(reason, usage, total));
        }
        quietly(() -> a.sink.onFinish(reason, usage));
    }

    private void fail(Active a, String message) {
        if (a.isDone()) {
            return;
        }
        release(a);
        a.markDone();
        requests++;
        quietly(() -> a.sink.onError(message));
    }

    private static void quietly(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException ignored) {
            // a client's callback failing must not stop the engine or the other requests
        }
    }

    private static String message(RuntimeException e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    private void publish() {
        running = prefilling.size() + decoding;
        stateBytes = running * layout.slotBytes();
        kvBytes = kv == null ? 0 : kv.bytes();
        cacheBytes = cache.bytes();
    }

    /** Cancels everything and frees the engine's memory (engine thread, or the caller of a manual engine's close). */
    private void shutdown() {
        if (closed) {
            return;
        }
        closed = true;
        closing = true;
        drainInbox();
        for (Active a : new ArrayList<>(waiting)) {
            queued.decrementAndGet();
            finish(a, FinishReason.CANCELLED);
        }
        waiting.clear();
        for (Active a : new ArrayList<>(prefilling)) {
            finish(a, FinishReason.CANCELLED);
        }
        while (decoding > 0) {
            finish(slotOwner[decoding - 1], FinishReason.CANCELLED);
        }
        publish();
        cache.close();
        if (kv != null) {
            kv.close();
        }
        step.close();
        pool.close();
        if (owned != null) {
            try {
                owned.close();
            } catch (Exception ignored) {
                // the model's memory is freed with its scope
            }
        }
        // a submit racing with close may have slipped in after the drain
        drainInbox();
        for (Active a : new ArrayList<>(waiting)) {
            queued.decrementAndGet();
            finish(a, FinishReason.CANCELLED);
        }
        waiting.clear();
    }

    // ------------------------------------------------------------------------------------------ for tests

    /** Pool slots (the most sequences that can run at once). */
    int slots() {
        return slotOwner.length;
    }

    /** KV blocks held (running sequences and cached prefixes). */
    int kvBlocksInUse() {
        return kv == null ? 0 : kv.blocksInUse();
    }

    int cachedEntries() {
        return cache.size();
    }

    /** Batch sizes whose decode step is kept as a recorded graph. */
    int decodeGraphs() {
        return step.graphs();
    }

    boolean hasSoftmaxLayers() {
        return kv != null;
    }
}
