package fulgur.eval;

import fulgur.autograd.GradMode;
import fulgur.models.CausalLM;
import fulgur.models.DecodeCache;
import fulgur.ops.Losses;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Iterator;

/**
 * Per-token loss, perplexity and bits per byte of a text of any length, streamed through the model's decoding cache
 * in chunks: a recurrent model carries its fixed-size state from chunk to chunk, so every token is predicted from the
 * whole text before it in constant memory. A model with softmax layers (a key-value cache that grows) reads through a
 * sliding window instead: when the cache would pass {@code window} tokens it is dropped and rebuilt from the last
 * {@code window - chunk} tokens, so each prediction sees between {@code window - chunk} and {@code window} tokens.
 *
 * <p>Documents (JSONL records) are separated by the tokenizer's EOS, which is predicted too. The first token is
 * predicted from BOS when the tokenizer has one, else it only conditions (and its bytes are not counted). Bits per
 * byte are the summed loss in bits over the UTF-8 bytes of the text predicted, comparable across tokenizers.
 */
public final class Perplexity {

    /**
     * Tokens per forward pass and the sliding window of softmax layers (tokens of context at most).
     *
     * @param chunk tokens per forward, &gt; 0
     * @param window the most tokens of context a softmax layer sees, more than {@code chunk}
     */
    public record Settings(int chunk, int window) {
        /**
         * Checks the sizes.
         *
         * @throws IllegalArgumentException when the chunk is not positive or the window is not longer than a chunk
         */
        public Settings {
            if (chunk <= 0) {
                throw new IllegalArgumentException("chunk must be > 0, got " + chunk);
            }
            if (window <= chunk) {
                throw new IllegalArgumentException(
                        "the window (" + window + " tokens) must be longer than a chunk (" + chunk + " tokens)");
            }
        }
    }

    /**
     * The totals: tokens predicted, their summed loss in nats, the bytes they spell, and how often a window was
     * rebuilt.
     *
     * @param tokens the tokens predicted
     * @param nll their summed negative log-likelihood, nats
     * @param bytes the UTF-8 bytes they spell
     * @param windowRebuilds how often the context window was rebuilt
     */
    public record Result(long tokens, double nll, long bytes, long windowRebuilds) {
        /** {@return the mean loss, nats per token} */
        public double lossPerToken() {
            return nll / tokens;
        }

        /** {@return e to the mean loss} */
        public double perplexity() {
            return Math.exp(lossPerToken());
        }

        /** {@return the loss in bits per UTF-8 byte} */
        public double bitsPerByte() {
            return nll / Math.log(2) / bytes;
        }
    }

    /** Called after each chunk with the running totals. */
    public interface Progress {
        /**
         * Receives the running totals.
         *
         * @param soFar the totals so far
         */
        void update(Result soFar);
    }

    private Perplexity() {}

    /**
     * The perplexity of {@code model} on a stream of text, read a chunk of tokens at a time (documents start with the
     * beginning-of-sequence token, where the tokenizer has one).
     *
     * @param model the model
     * @param tok its tokenizer
     * @param text the pieces of text
     * @param s the settings
     * @param progress told after each chunk, or null
     * @return the totals
     * @throws IllegalArgumentException when the text has no token to predict
     */
    public static Result evaluate(
            CausalLM model, Tokenizer tok, Iterator<Documents.Piece> text, Settings s, Progress progress) {
        State st = new State(model, tok, s, progress);
        boolean was = model.module().isTraining();
        model.module().train(false);
        try (var g = GradMode.noGrad()) {
            boolean firstPiece = true;
            while (text.hasNext()) {
                Documents.Piece p = text.next();
                if (p.startsDocument() && !firstPiece && tok.eosId().isPresent()) {
                    st.push(new int[] {tok.eosId().getAsInt()}, 0);
                }
                byte[] utf8 = p.text().getBytes(StandardCharsets.UTF_8);
                st.push(tok.encode(p.text()), utf8.length);
                firstPiece = false;
            }
            st.flush();
        } finally {
            st.close();
            model.module().train(was);
        }
        if (st.tokens == 0) {
            throw new IllegalArgumentException(
                    "the text has no token to predict (it needs at least two tokens, or one with a BOS token)");
        }
        return st.result();
    }

    /** The streaming state: tokens waiting to be predicted, the cache, the recent history for window rebuilds. */
    private static final class State {
        final CausalLM model;
        final Settings s;
        final Progress progress;
        final int vocab;
        DecodeCache cache;
        int[] pending = new int[1024];
        int pendingCount;
        int last = -1;
        int[] history;
        int historyCount;
        long tokens;
        double nll;
        long bytes;
        long rebuilds;
        boolean firstTokenSeen;
        final Tokenizer tok;

        State(CausalLM model, Tokenizer tok, Settings s, Progress progress) {
            this.model = model;
            this.tok = tok;
            this.s = s;
            this.progress = progress;
            this.vocab = model.vocabSize();
            this.cache = model.newCache();
            this.history = new int[s.window()];
            if (tok.bosId().isPresent()) {
                last = tok.bosId().getAsInt();
            }
        }

        void push(int[] ids, long utf8Bytes) {
            bytes += utf8Bytes;
            for (int id : ids) {
                if (id < 0 || id >= vocab) {
                    throw new IllegalArgumentException(
                            "token id " + id + " is outside the model's vocabulary of " + vocab);
                }
                if (last < 0 && !firstTokenSeen) {
                    // no BOS: the first token only conditions, and its bytes are not predicted
                    bytes -= tok.decodeBytes(new int[] {id}).length;
                    last = id;
                    firstTokenSeen = true;
                    continue;
                }
                firstTokenSeen = true;
                if (pendingCount == pending.length) {
                    pending = Arrays.copyOf(pending, pending.length * 2);
                }
                pending[pendingCount++] = id;
                if (pendingCount >= s.chunk()) {
                    step(s.chunk());
                }
            }
        }

        void flush() {
            while (pendingCount > 0) {
                step(Math.min(pendingCount, s.chunk()));
            }
        }

        void step(int k) {
            if (cache.kvBytesPerToken() > 0 && cache.position() + k > s.window()) {
                rebuild();
            }
            int[] inputs = new int[k];
            inputs[0] = last;
            System.arraycopy(pending, 0, inputs, 1, k - 1);
            int[] targets = Arrays.copyOf(pending, k);
            try (Scope sc = Scope.open("perplexity")) {
                fulgur.tensor.Device d = model.module().device();
                Tensor logits = model.forward(Tensor.ofInts(inputs, 1, k).to(d), cache);
                Tensor loss = Losses.crossEntropy(
                        logits.reshape(k, vocab), Tensor.ofInts(targets, k).to(d));
                nll += (double) loss.item() * k;
            }
            tokens += k;
            remember(inputs);
            last = targets[k - 1];
            System.arraycopy(pending, k, pending, 0, pendingCount - k);
            pendingCount -= k;
            if (progress != null) {
                progress.update(result());
            }
        }

        /** A fresh cache prefilled with the last {@code window - chunk} tokens read (softmax layers only). */
        void rebuild() {
            cache.close();
            cache = model.newCache();
            int keep = Math.min(historyCount, s.window() - s.chunk());
            if (keep > 0) {
                int[] ctx = Arrays.copyOfRange(history, historyCount - keep, historyCount);
                try (Scope sc = Scope.open("perplexity window")) {
                    model.forward(Tensor.ofInts(ctx, 1, keep).to(model.module().device()), cache);
                }
            }
            rebuilds++;
        }

        void remember(int[] inputs) {
            int n = inputs.length;
            if (historyCount + n > history.length) {
                int drop = historyCount + n - history.length;
                System.arraycopy(history, drop, history, 0, historyCount - drop);
                historyCount -= drop;
            }
            System.arraycopy(inputs, 0, history, historyCount, n);
            historyCount += n;
        }

        Result result() {
            return new Result(tokens, nll, bytes, rebuilds);
        }

        void close() {
            cache.close();
        }
    }
}
