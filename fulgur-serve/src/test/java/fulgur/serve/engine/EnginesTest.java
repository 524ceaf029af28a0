package fulgur.serve.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.generate.Generator;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.serve.Engine;
import fulgur.serve.EngineListener;
import fulgur.serve.FinishReason;
import fulgur.serve.GenerationRequest;
import fulgur.serve.SamplingParams;
import fulgur.serve.Usage;
import fulgur.tensor.Scope;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The threaded engine as clients use it: many threads submitting at once, a model loaded from a directory. */
class EnginesTest {
    private final Tokenizer tok = ByteTokenizer.withEndOfText();

    @Test
    void concurrentClientsGetWhatTheyWouldGetAloneAndListenersSeeEveryToken() throws Exception {
        int n = 12;
        try (Scope s = Scope.open();
                LanguageModel model = Tiny.model("minimax", 21)) {
            int[][] expected = new int[n][];
            for (int i = 0; i < n; i++) {
                expected[i] = Generator.generate(
                                model,
                                tok,
                                Tiny.prompt(i, 2 + i),
                                new Generator.Settings(5 + i, 0, 0, 1, 0, List.of()),
                                null)
                        .ids();
            }
            AtomicInteger first = new AtomicInteger();
            AtomicInteger next = new AtomicInteger();
            AtomicInteger finished = new AtomicInteger();
            ExecutorService pool = Executors.newFixedThreadPool(6);
            try (Engine engine = Engines.of(model, tok, "mm", Tiny.options(6, 8, 0))) {
                engine.addListener(new EngineListener() {
                    @Override
                    public void onFirstToken(Duration sinceSubmit) {
                        first.incrementAndGet();
                    }

                    @Override
                    public void onNextToken(Duration sincePrevious) {
                        next.incrementAndGet();
                    }

                    @Override
                    public void onFinish(FinishReason reason, Usage usage, Duration sinceSubmit) {
                        finished.incrementAndGet();
                    }
                });
                assertThat(engine.model().architecture()).isEqualTo("minimax");
                assertThat(engine.model().id()).isEqualTo("mm");
                assertThat(engine.model().maxContextTokens()).isEqualTo(4096 + 256);
                List<Future<Collect>> futures = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    int k = i;
                    futures.add(pool.submit(() -> {
                        Collect c = new Collect();
                        engine.submit(
                                new GenerationRequest(
                                        Tiny.prompt(k, 2 + k), SamplingParams.GREEDY, 5 + k, List.of(), null),
                                c);
                        c.await();
                        return c;
                    }));
                }
                int tokens = 0;
                for (int i = 0; i < n; i++) {
                    Collect c = futures.get(i).get();
                    assertThat(c.ids()).as("request %d", i).containsExactly(expected[i]);
                    tokens += c.tokens.size();
                }
                assertThat(engine.stats().requests()).isEqualTo(n);
                assertThat(engine.stats().completionTokens()).isEqualTo(tokens);
                assertThat(first.get()).isEqualTo(n);
                assertThat(next.get()).isEqualTo(tokens - n);
                assertThat(finished.get()).isEqualTo(n);
                assertThat(engine.stats().steps()).isLessThan(tokens);
            } finally {
                pool.shutdown();
            }
        }
    }

    @Test
    void loadsAModelDirectoryAndClosingTheEngineFreesIt(@TempDir Path tmp) throws Exception {
        int[] p = Tiny.prompt(3, 7);
        int[] expected;
        try (Scope s = Scope.open();
                LanguageModel model = Tiny.model("hgrn2", 4)) {
            ReferenceCheckpoint.save(model, tmp.resolve("hgrn2-tiny"), null, 1L << 30);
            expected = Generator.generate(model, tok, p, new Generator.Settings(9, 0, 0, 1, 0, List.of()), null)
                    .ids();
        }
        Collect c = new Collect();
        try (Engine engine = Engines.load(tmp.resolve("hgrn2-tiny"), "cpu", Tiny.options(2, 8, 1 << 20))) {
            assertThat(engine.model().id()).isEqualTo("hgrn2-tiny");
            assertThat(engine.model().device()).isEqualTo("cpu");
            assertThat(engine.tokenizer().vocabSize()).isEqualTo(257);
            engine.submit(new GenerationRequest(p, SamplingParams.GREEDY, 9, List.of(), null), c);
            c.await();
            Collect running = new Collect();
            engine.submit(new GenerationRequest(p, SamplingParams.GREEDY, 200, List.of(), null), running);
            engine.close();
            running.await();
            assertThat(running.reason).isEqualTo(FinishReason.CANCELLED);
        }
        assertThat(c.ids()).containsExactly(expected);
        assertThatThrownBy(() -> Engines.load(tmp.resolve("hgrn2-tiny"), "tpu", Tiny.options(2, 8, 0)))
                .hasMessageContaining("unknown device 'tpu'");
        assertThatThrownBy(() -> Engines.load(tmp.resolve("nothing"), "cpu", Tiny.options(2, 8, 0)))
                .hasMessageContaining("not a directory");
    }
}
