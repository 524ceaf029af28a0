package fulgur.serve.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.generate.Generator;
import fulgur.models.LanguageModel;
import fulgur.serve.EngineOptions;
import fulgur.serve.FinishReason;
import fulgur.serve.GenerationRequest;
import fulgur.serve.RejectedRequestException;
import fulgur.serve.RequestHandle;
import fulgur.serve.SamplingParams;
import fulgur.tensor.Scope;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Cancellation, deadlines, admission and rejections, paged blocks and stop strings, on engines driven step by step. */
class EngineControlTest {
    private final Tokenizer tok = ByteTokenizer.withEndOfText();
    private Scope scope;
    private LanguageModel tnl;

    @BeforeEach
    void open() {
        scope = Scope.open();
        tnl = Tiny.model("tnl", 3);
    }

    @AfterEach
    void close() {
        tnl.close();
        scope.close();
    }

    private static GenerationRequest request(int[] prompt, int maxTokens) {
        return new GenerationRequest(prompt, SamplingParams.GREEDY, maxTokens, List.of(), null);
    }

    private static void steps(BatchingEngine e, int n) {
        for (int i = 0; i < n; i++) {
            e.runStep();
        }
    }

    @Test
    void cancellingARunningRequestFreesItsSlotAtTheNextStep() {
        try (BatchingEngine e = new BatchingEngine(tnl, tok, "t", Tiny.options(4, 8, 0), null, false)) {
            Collect keep = new Collect();
            Collect gone = new Collect();
            e.submit(request(Tiny.prompt(1, 5), 40), keep);
            RequestHandle h = e.submit(request(Tiny.prompt(2, 5), 40), gone);
            steps(e, 3);
            assertThat(e.stats().running()).isEqualTo(2);
            long twoSlots = e.stats().stateBytes();
            int before = gone.tokens.size();
            h.cancel();
            assertThat(h.isDone()).isFalse();
            e.runStep();
            assertThat(gone.reason).isEqualTo(FinishReason.CANCELLED);
            assertThat(gone.tokens).hasSize(before);
            assertThat(h.isDone()).isTrue();
            assertThat(e.stats().running()).isEqualTo(1);
            assertThat(e.stats().stateBytes()).isEqualTo(twoSlots / 2);
            steps(e, 60);
            assertThat(keep.reason).isEqualTo(FinishReason.LENGTH);
            assertThat(keep.tokens).hasSize(40);
            assertThat(e.stats().running()).isZero();
            assertThat(e.stats().stateBytes()).isZero();
            assertThat(e.stats().requests()).isEqualTo(2);
        }
    }

    @Test
    void aRequestThatLeavesTheBatchDoesNotDisturbTheOthers() {
        int[] p = Tiny.prompt(4, 6);
        int[] expected = Generator.generate(tnl, tok, p, new Generator.Settings(30, 0, 0, 1, 0, List.of()), null)
                .ids();
        try (BatchingEngine e = new BatchingEngine(tnl, tok, "t", Tiny.options(4, 8, 0), null, false)) {
            Collect first = new Collect();
            Collect main = new Collect();
            Collect last = new Collect();
            RequestHandle h1 = e.submit(request(Tiny.prompt(5, 3), 100), first);
            e.submit(request(p, 30), main);
            RequestHandle h3 = e.submit(request(Tiny.prompt(6, 9), 100), last);
            steps(e, 4);
            h1.cancel(); // the row before main leaves: the last row moves into its slot
            steps(e, 3);
            h3.cancel();
            steps(e, 40);
            assertThat(first.reason).isEqualTo(FinishReason.CANCELLED);
            assertThat(last.reason).isEqualTo(FinishReason.CANCELLED);
            assertThat(main.ids()).containsExactly(expected);
        }
    }

    @Test
    void queuedRequestsCanBeCancelledAndQueueInOrderBeyondTheRunningLimit() {
        try (BatchingEngine e = new BatchingEngine(tnl, tok, "t", Tiny.options(1, 8, 0), null, false)) {
            Collect a = new Collect();
            Collect b = new Collect();
            Collect c = new Collect();
            e.submit(request(Tiny.prompt(1, 4), 5), a);
            RequestHandle hb = e.submit(request(Tiny.prompt(2, 4), 5), b);
            e.submit(request(Tiny.prompt(3, 4), 5), c);
            e.runStep();
            assertThat(e.stats().running()).isEqualTo(1);
            assertThat(e.stats().queued()).isEqualTo(2);
            hb.cancel();
            e.runStep();
            assertThat(b.reason).isEqualTo(FinishReason.CANCELLED);
            assertThat(b.tokens).isEmpty();
            assertThat(e.stats().queued()).isEqualTo(1);
            steps(e, 20);
            assertThat(a.reason).isEqualTo(FinishReason.LENGTH);
            assertThat(c.reason).isEqualTo(FinishReason.LENGTH);
            assertThat(e.stats().queued()).isZero();
        }
    }

    @Test
    void deadlinesEndQueuedAndRunningRequestsWithTimeout() throws Exception {
        try (BatchingEngine e = new BatchingEngine(tnl, tok, "t", Tiny.options(1, 8, 0), null, false)) {
            Collect running = new Collect();
            Collect queued = new Collect();
            Instant soon = Instant.now().plusMillis(300);
            e.submit(new GenerationRequest(Tiny.prompt(1, 4), SamplingParams.GREEDY, 200, List.of(), soon), running);
            e.submit(new GenerationRequest(Tiny.prompt(2, 4), SamplingParams.GREEDY, 5, List.of(), soon), queued);
            steps(e, 3);
            assertThat(running.tokens).isNotEmpty();
            Thread.sleep(Math.max(0, Duration.between(Instant.now(), soon).toMillis() + 20));
            e.runStep();
            assertThat(running.reason).isEqualTo(FinishReason.TIMEOUT);
            assertThat(queued.reason).isEqualTo(FinishReason.TIMEOUT);
            assertThat(queued.tokens).isEmpty();
            assertThat(e.stats().running()).isZero();
            assertThat(e.stats().queued()).isZero();
            Collect late = new Collect();
            e.submit(
                    new GenerationRequest(
                            Tiny.prompt(3, 4),
                            SamplingParams.GREEDY,
                            5,
                            List.of(),
                            Instant.now().minusSeconds(1)),
                    late);
            e.runStep();
            assertThat(late.reason).isEqualTo(FinishReason.TIMEOUT);
        }
    }

    @Test
    void fullQueuesAndRequestsBeyondTheLimitsAreRejected() {
        EngineOptions o = new EngineOptions(1, 2, 16, 8, 1L << 30, 8, 0, 0, Duration.ofMinutes(1), 4);
        try (BatchingEngine e = new BatchingEngine(tnl, tok, "t", o, null, false)) {
            e.submit(request(Tiny.prompt(1, 3), 4), new Collect());
            e.submit(request(Tiny.prompt(2, 3), 4), new Collect());
            assertThatThrownBy(() -> e.submit(request(Tiny.prompt(3, 3), 4), new Collect()))
                    .isInstanceOfSatisfying(RejectedRequestException.class, r -> {
                        assertThat(r.reason()).isEqualTo(RejectedRequestException.Reason.QUEUE_FULL);
                        assertThat(r.retryAfterSeconds()).isPositive();
                    });
            assertThatThrownBy(() -> e.submit(request(Tiny.prompt(4, 17), 4), new Collect()))
                    .isInstanceOfSatisfying(
                            RejectedRequestException.class,
                            r -> assertThat(r.reason()).isEqualTo(RejectedRequestException.Reason.TOO_LARGE))
                    .hasMessageContaining("17 tokens");
            assertThatThrownBy(() -> e.submit(request(Tiny.prompt(4, 3), 9), new Collect()))
                    .isInstanceOfSatisfying(
                            RejectedRequestException.class,
                            r -> assertThat(r.reason()).isEqualTo(RejectedRequestException.Reason.TOO_LARGE))
                    .hasMessageContaining("max tokens 9");
            assertThatThrownBy(() -> e.submit(request(new int[] {1, 300}, 4), new Collect()))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("outside the vocabulary");
            steps(e, 12);
            e.submit(request(Tiny.prompt(3, 3), 4), new Collect()); // room again once the queue drained
        }
        EngineOptions tiny = new EngineOptions(4, 8, 64, 16, 100, 8, 0, 0, Duration.ofMinutes(1), 4);
        try (BatchingEngine e = new BatchingEngine(tnl, tok, "t", tiny, null, false)) {
            assertThatThrownBy(() -> e.submit(request(Tiny.prompt(1, 3), 4), new Collect()))
                    .isInstanceOfSatisfying(
                            RejectedRequestException.class,
                            r -> assertThat(r.reason()).isEqualTo(RejectedRequestException.Reason.TOO_LARGE))
                    .hasMessageContaining("budget");
        }
    }

    @Test
    void theMemoryBudgetLimitsHowManyRunAndTheRestWait() {
        long slot;
        try (BatchingEngine probe = new BatchingEngine(tnl, tok, "t", Tiny.options(8, 8, 0), null, false)) {
            slot = probe.reservation(4, 4);
        }
        EngineOptions o = new EngineOptions(8, 16, 64, 16, 2 * slot + slot / 2, 8, 0, 0, Duration.ofMinutes(1), 4);
        try (BatchingEngine e = new BatchingEngine(tnl, tok, "t", o, null, false)) {
            Collect[] cs = new Collect[5];
            for (int i = 0; i < cs.length; i++) {
                cs[i] = new Collect();
                e.submit(request(Tiny.prompt(i, 4), 4), cs[i]);
            }
            int most = 0;
            for (int i = 0; i < 40; i++) {
                e.runStep();
                most = Math.max(most, e.stats().running());
                assertThat(e.stats().stateBytes()).isLessThanOrEqualTo(o.memoryBudgetBytes());
            }
            assertThat(most).isEqualTo(2);
            for (Collect c : cs) {
                assertThat(c.reason).isEqualTo(FinishReason.LENGTH);
            }
        }
    }

    @Test
    void pagedKeyValueBlocksGrowWithTheContextAndAreFreedWhenRequestsEnd() {
        try (LanguageModel llama = Tiny.model("llama", 5);
                BatchingEngine e = new BatchingEngine(llama, tok, "l", Tiny.options(4, 8, 0), null, false)) {
            assertThat(e.hasSoftmaxLayers()).isTrue();
            Collect a = new Collect();
            Collect b = new Collect();
            e.submit(request(Tiny.prompt(1, 20), 30), a);
            e.submit(request(Tiny.prompt(2, 3), 10), b);
            int most = 0;
            for (int i = 0; i < 60 && !a.finished(); i++) {
                e.runStep();
                most = Math.max(most, e.kvBlocksInUse());
                if (b.finished() && !a.finished()) {
                    // only a's blocks are left: its prompt and tokens so far, 16 to a block
                    assertThat(e.kvBlocksInUse()).isEqualTo((20 + a.tokens.size() - 1 + 15) / 16);
                    assertThat(e.stats().kvBytes()).isPositive();
                }
            }
            assertThat(most).as("blocks of both sequences at once").isGreaterThanOrEqualTo(3);
            assertThat(a.reason).isEqualTo(FinishReason.LENGTH);
            assertThat(e.kvBlocksInUse()).isZero();
            assertThat(e.stats().kvBytes()).isZero();
        }
        try (LanguageModel pure = Tiny.model("hgrn2", 5);
                BatchingEngine e = new BatchingEngine(pure, tok, "h", Tiny.options(4, 8, 0), null, false)) {
            assertThat(e.hasSoftmaxLayers())
                    .as("a recurrent model keeps no keys and values")
                    .isFalse();
        }
    }

    @Test
    void stopStringsEndTheTextWithoutEverStreamingTheirStart() {
        int[] p = Tiny.prompt(8, 5);
        String full = Generator.generate(tnl, tok, p, new Generator.Settings(40, 1.0, 0, 1, 9, List.of()), null)
                .text();
        assertThat(full.length()).isGreaterThan(12);
        String stop = full.substring(6, 9);
        int cut = full.indexOf(stop);
        try (BatchingEngine e = new BatchingEngine(tnl, tok, "t", Tiny.options(4, 8, 0), null, false)) {
            Collect c = new Collect();
            StringBuilder streamed = new StringBuilder();
            e.submit(
                    new GenerationRequest(p, new SamplingParams(1.0, 1, 0, 9), 40, List.of("zzzz-never", stop), null),
                    new Collect() {
                        @Override
                        public synchronized void onToken(int token, String text) {
                            streamed.append(text);
                            assertThat(streamed.toString()).doesNotContain(stop);
                            c.onToken(token, text);
                        }

                        @Override
                        public void onFinish(FinishReason reason, fulgur.serve.Usage usage) {
                            c.onFinish(reason, usage);
                        }
                    });
            steps(e, 60);
            assertThat(c.reason).isEqualTo(FinishReason.STOP);
            assertThat(c.text.toString()).isEqualTo(full.substring(0, cut));
        }
    }

    @Test
    void closingTheEngineCancelsWhatIsLeft() {
        BatchingEngine e = new BatchingEngine(tnl, tok, "t", Tiny.options(1, 8, 0), null, false);
        Collect running = new Collect();
        Collect waiting = new Collect();
        e.submit(request(Tiny.prompt(1, 4), 50), running);
        e.submit(request(Tiny.prompt(2, 4), 50), waiting);
        steps(e, 2);
        e.close();
        assertThat(running.reason).isEqualTo(FinishReason.CANCELLED);
        assertThat(waiting.reason).isEqualTo(FinishReason.CANCELLED);
        assertThatThrownBy(() -> e.submit(request(Tiny.prompt(3, 4), 5), new Collect()))
                .isInstanceOf(IllegalStateException.class);
    }

    @Test
    void aSinkThatThrowsHasItsRequestCancelledAndTheOthersGoOn() {
        try (BatchingEngine e = new BatchingEngine(tnl, tok, "t", Tiny.options(4, 8, 0), null, false)) {
            Collect ok = new Collect();
            Collect broken = new Collect() {
                @Override
                public synchronized void onToken(int token, String text) {
                    throw new IllegalStateException("client went away");
                }
            };
            e.submit(request(Tiny.prompt(1, 4), 6), broken);
            e.submit(request(Tiny.prompt(2, 4), 6), ok);
            steps(e, 12);
            assertThat(broken.reason).isEqualTo(FinishReason.CANCELLED);
            assertThat(ok.reason).isEqualTo(FinishReason.LENGTH);
            assertThat(ok.tokens).hasSize(6);
        }
    }

    /**
     * Logits that went non-finite fail the requests that sample from them, with the message text generation gives,
     * after the prompt or after the tokens so far; the engine frees their slots and serves the next request.
     */
    @Test
    void nonFiniteLogitsFailTheirRequestsAndTheEngineGoesOn() {
        int[] p = Tiny.prompt(7, 5);
        int[] expected = Generator.generate(tnl, tok, p, new Generator.Settings(8, 0, 0, 1, 0, List.of()), null)
                .ids();
        fulgur.tensor.Tensor weight =
                tnl.module().namedParameters().values().iterator().next().value();
        fulgur.tensor.Tensor good = weight.copy();
        try (BatchingEngine e = new BatchingEngine(tnl, tok, "t", Tiny.options(4, 8, 0), null, false)) {
            Collect decoding = new Collect();
            e.submit(request(Tiny.prompt(1, 4), 40), decoding);
            steps(e, 3);
            int before = decoding.tokens.size();
            assertThat(before).isPositive();
            weight.copyFrom(fulgur.tensor.Tensor.full(weight.dtype(), Double.NaN, weight.shape()));
            e.runStep();
            assertThat(decoding.error)
                    .isEqualTo("generation failed after " + before
                            + " generated tokens: the model's logits are not finite (NaN for token 0):"
                            + " its weights or activations overflowed, so there is nothing to sample from");
            assertThat(decoding.tokens).hasSize(before);
            Collect prompted = new Collect();
            e.submit(request(Tiny.prompt(2, 4), 40), prompted);
            steps(e, 2);
            assertThat(prompted.error)
                    .startsWith("generation failed after the prompt: the model's logits are not finite");
            assertThat(prompted.tokens).isEmpty();
            assertThat(e.stats().running()).isZero();
            assertThat(e.stats().stateBytes()).isZero();
            weight.copyFrom(good);
            Collect after = new Collect();
            e.submit(request(p, 8), after);
            steps(e, 12);
            assertThat(after.reason).isEqualTo(FinishReason.LENGTH);
            assertThat(after.ids()).containsExactly(expected);
        }
    }
}
