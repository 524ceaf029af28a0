package fulgur.serve.engine;

import fulgur.autograd.GradMode;
import fulgur.generate.Sampler;
import fulgur.models.Architectures;
import fulgur.models.DecodeCache;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.serve.Engine;
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
import fulgur.tokenizer.BpeTokenizer;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Opens a model directory as an {@link Engine}. This engine decodes one request at a time, in arrival order, exactly
 * as {@code fulgur generate} does (prefill, then one recurrent step per token); the continuous-batching engine
 * replaces it behind the same factory.
 */
public final class Engines {

    private Engines() {}

    /**
     * Loads {@code modelDir} (a training run, its checkpoint directory or a reference checkpoint) onto {@code device}
     * with the tokenizer beside it ({@code tokenizer.json} in the directory or its parent; bytes when there is none).
     */
    public static Engine load(Path modelDir, String device, EngineOptions options) throws IOException {
        Device d = Device.parse(device);
        Tokenizer tok = tokenizer(modelDir);
        LanguageModel model = ReferenceCheckpoint.load(modelDir);
        try {
            if (d.kind() != Device.Kind.CPU) {
                model.module().to(d);
            }
            if (tok.vocabSize() > model.vocabSize()) {
                throw new IllegalArgumentException("tokenizer has " + tok.vocabSize() + " tokens but the model only " + model.vocabSize());
            }
            model.module().train(false);
            Path name = modelDir.toAbsolutePath().normalize().getFileName();
            ModelInfo info = new ModelInfo(name == null ? "model" : name.toString(), Architectures.forConfig(model.configJson()).name(),
                    model.configJson(), model.vocabSize(), model.parameterCount(), d.toString(),
                    options.maxPromptTokens() + options.maxNewTokens());
            return new SequentialEngine(model, tok, info, options);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    static Tokenizer tokenizer(Path dir) throws IOException {
        for (Path p = dir.toAbsolutePath().normalize(), stop = p.getParent(); p != null; p = p == stop ? null : p.getParent()) {
            Path json = p.resolve("tokenizer.json");
            if (Files.isRegularFile(json)) {
                return BpeTokenizer.fromJson(json);
            }
        }
        return ByteTokenizer.withEndOfText();
    }

    /** One worker thread serving queued requests one after another. */
    static final class SequentialEngine implements Engine {
        private final LanguageModel model;
        private final Tokenizer tok;
        private final ModelInfo info;
        private final EngineOptions options;
        private final LinkedBlockingDeque<Job> queue = new LinkedBlockingDeque<>();
        private final Thread worker;
        private volatile boolean closed;
        private volatile Job current;
        private volatile long stateBytes;
        private final AtomicLong requests = new AtomicLong();
        private final AtomicLong promptTokens = new AtomicLong();
        private final AtomicLong completionTokens = new AtomicLong();
        private final AtomicLong steps = new AtomicLong();

        SequentialEngine(LanguageModel model, Tokenizer tok, ModelInfo info, EngineOptions options) {
            this.model = model;
            this.tok = tok;
            this.info = info;
            this.options = options;
            this.worker = Thread.ofPlatform().name("fulgur-engine").daemon().start(this::work);
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
        public RequestHandle submit(GenerationRequest request, TokenSink sink) {
            if (closed) {
                throw new IllegalStateException("the engine is closed");
            }
            if (request.prompt().length > options.maxPromptTokens()) {
                throw new RejectedRequestException(RejectedRequestException.Reason.TOO_LARGE,
                        "prompt has " + request.prompt().length + " tokens, more than the limit of " + options.maxPromptTokens(), 0);
            }
            if (request.maxTokens() > options.maxNewTokens()) {
                throw new RejectedRequestException(RejectedRequestException.Reason.TOO_LARGE,
                        "max tokens " + request.maxTokens() + " is more than the limit of " + options.maxNewTokens(), 0);
            }
            for (int id : request.prompt()) {
                if (id < 0 || id >= info.vocabSize()) {
                    throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + info.vocabSize() + ")");
                }
            }
            Job job = new Job(request, sink, request.deadline() != null ? request.deadline() : Instant.now().plus(options.defaultTimeout()));
            synchronized (queue) {
                if (queue.size() >= options.maxQueued()) {
                    throw new RejectedRequestException(RejectedRequestException.Reason.QUEUE_FULL, options.maxQueued() + " requests are already waiting", 1);
                }
                queue.add(job);
            }
            return job;
        }

        @Override
        public EngineStats stats() {
            return new EngineStats(current != null ? 1 : 0, queue.size(), stateBytes, 0, 0, requests.get(), promptTokens.get(), 0,
                    completionTokens.get(), steps.get());
        }

        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            Job running = current;
            if (running != null) {
                running.cancel();
            }
            worker.interrupt();
            try {
                worker.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            for (Job j; (j = queue.poll()) != null; ) {
                j.finish(FinishReason.CANCELLED, 0);
            }
            model.close();
        }

        private void work() {
            while (!closed) {
                Job job;
                try {
                    job = queue.take();
                } catch (InterruptedException e) {
                    return;
                }
                current = job;
                try {
                    run(job);
                } catch (RuntimeException | Error e) {
                    job.fail("generation failed: " + e.getMessage());
                } finally {
                    current = null;
                    stateBytes = 0;
                }
            }
        }

        private void run(Job job) {
            GenerationRequest r = job.request;
            promptTokens.addAndGet(r.prompt().length);
            if (job.cancelled) {
                job.finish(FinishReason.CANCELLED, 0);
                return;
            }
            if (Instant.now().isAfter(job.deadline)) {
                job.finish(FinishReason.TIMEOUT, 0);
                return;
            }
            if (r.maxTokens() == 0) {
                job.finish(FinishReason.LENGTH, 0);
                return;
            }
            var s = r.sampling();
            Sampler sampler = new Sampler(s.temperature(), s.topK(), s.topP(), s.seed());
            Device device = model.module().device();
            int[] out = new int[r.maxTokens()];
            int n = 0;
            TextTail text = new TextTail(tok, r.stop());
            try (var g = GradMode.noGrad(); DecodeCache cache = model.newCache()) {
                float[] logits;
                try (Scope sc = Scope.open("prefill")) {
                    logits = lastRow(model.forward(Tensor.ofInts(r.prompt(), 1, r.prompt().length).to(device), cache));
                }
                steps.incrementAndGet();
                while (true) {
                    if (job.cancelled) {
                        job.finish(FinishReason.CANCELLED, n);
                        return;
                    }
                    if (Instant.now().isAfter(job.deadline)) {
                        job.finish(FinishReason.TIMEOUT, n);
                        return;
                    }
                    int next = sampler.sample(logits);
                    out[n++] = next;
                    completionTokens.incrementAndGet();
                    boolean eos = tok.eosId().isPresent() && next == tok.eosId().getAsInt();
                    boolean last = eos || n == r.maxTokens();
                    TextTail.Step step = text.add(Arrays.copyOf(out, n), eos, last);
                    job.sink.onToken(next, step.text());
                    if (step.stopped() || eos) {
                        job.finish(FinishReason.STOP, n);
                        return;
                    }
                    if (last) {
                        job.finish(FinishReason.LENGTH, n);
                        return;
                    }
                    try (Scope sc = Scope.open("decode")) {
                        logits = lastRow(model.forward(Tensor.ofInts(new int[] {next}, 1, 1).to(device), cache));
                    }
                    steps.incrementAndGet();
                    stateBytes = cache.stateBytes();
                }
            }
        }

        private static float[] lastRow(Tensor logits) {
            return logits.select(1, logits.size(1) - 1).select(0, 0).toFloatArray();
        }

        private final class Job implements RequestHandle {
            final GenerationRequest request;
            final TokenSink sink;
            final Instant deadline;
            volatile boolean cancelled;
            volatile boolean done;

            Job(GenerationRequest request, TokenSink sink, Instant deadline) {
                this.request = request;
                this.sink = sink;
                this.deadline = deadline;
            }

            @Override
            public void cancel() {
                cancelled = true;
                // a queued request leaves the queue at once
                if (queue.remove(this)) {
                    promptTokens.addAndGet(request.prompt().length);
                    finish(FinishReason.CANCELLED, 0);
                }
            }

            @Override
            public boolean isDone() {
                return done;
            }

            synchronized void finish(FinishReason reason, int generated) {
                if (!done) {
                    done = true;
                    requests.incrementAndGet();
                    sink.onFinish(reason, new Usage(request.prompt().length, generated, 0));
                }
            }

            synchronized void fail(String message) {
                if (!done) {
                    done = true;
                    requests.incrementAndGet();
                    sink.onError(message);
                }
            }
        }
    }

    /**
     * The text of a growing token sequence, released as it becomes final: a partial UTF-8 character or the start of a
     * stop string is held back until the next token decides it; a stop string ends the text before it.
     */
    static final class TextTail {
        record Step(String text, boolean stopped) {}

        private final Tokenizer tok;
        private final List<String> stops;
        private int emitted;

        TextTail(Tokenizer tok, List<String> stops) {
            this.tok = tok;
            this.stops = stops.stream().filter(s -> !s.isEmpty()).toList();
        }

        /** The new text that {@code ids} (all tokens so far) release; {@code last} releases everything. */
        Step add(int[] ids, boolean eos, boolean last) {
            int[] visible = eos ? Arrays.copyOf(ids, ids.length - 1) : ids;
            String all = new String(tok.decodeBytes(visible), StandardCharsets.UTF_8);
            if (!last) {
                while (all.endsWith("\uFFFD")) {
                    all = all.substring(0, all.length() - 1);
                }
            }
            int cut = -1;
            for (String st : stops) {
                int i = all.indexOf(st, Math.max(0, emitted - st.length() + 1));
                if (i >= 0 && (cut < 0 || i < cut)) {
                    cut = i;
                }
            }
            if (cut >= 0) {
                return release(all, Math.max(cut, emitted), true);
            }
            int end = all.length();
            if (!last) {
                end -= heldBack(all);
            }
            return release(all, Math.max(end, emitted), false);
        }

        private Step release(String all, int end, boolean stopped) {
            String s = all.substring(emitted, end);
            emitted = end;
            return new Step(s, stopped);
        }

        /** Length of the longest tail of {@code all} that is a proper prefix of a stop string. */
        private int heldBack(String all) {
            int best = 0;
            for (String st : stops) {
                for (int k = Math.min(st.length() - 1, all.length()); k > best; k--) {
                    if (all.regionMatches(all.length() - k, st, 0, k)) {
                        best = k;
                        break;
                    }
                }
            }
            return best;
        }
    }
}
