package fulgur.serve.engine;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.models.LanguageModel;
import fulgur.serve.EngineOptions;
import fulgur.serve.GenerationRequest;
import fulgur.serve.SamplingParams;
import fulgur.tensor.Scope;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The prefix state cache changes nothing but the work: the same requests give the same tokens with the cache as
 * without it (greedy and seeded sampling), while repeated prompts, longer prompts that extend a cached one (a chat's
 * next turn) and prompts sharing a prefix resume from cached states. For models with softmax layers the cached keys
 * and values are shared blocks that resuming sequences copy before writing.
 */
class PrefixStateCacheTest {
    static List<String> architectures() {
        return Tiny.architectures();
    }

    @ParameterizedTest
    @MethodSource("architectures")
    void cachedPrefixesGiveTheSameTokensAsPrefillingAgain(String arch) {
        Tokenizer tok = ByteTokenizer.withEndOfText();
        int[] p = Tiny.prompt(1, 20);
        int[] turn2 = concat(p, Tiny.prompt(2, 9));
        int[] shared = concat(Arrays.copyOf(p, 10), Tiny.prompt(3, 6));
        SamplingParams seeded = new SamplingParams(1.0, 0.9, 0, 42);
        Object[][] requests = {
            {p, SamplingParams.GREEDY, 0},
            {p, SamplingParams.GREEDY, 20}, // the same prompt: its end state and logits
            {p, seeded, 20},
            {turn2, SamplingParams.GREEDY, 16}, // the next turn: from the last chunk boundary of the first prompt
            {turn2, seeded, 29},
            {shared, seeded, 8}, // a shared first chunk (cached every 8 tokens)
            {p, SamplingParams.GREEDY, 20}, // the cached blocks were not overwritten by the sequences that shared them
        };
        try (Scope s = Scope.open();
                LanguageModel model = Tiny.model(arch, 11)) {
            EngineOptions on = new EngineOptions(4, 16, 4096, 64, 1L << 30, 8, 64L << 20, 8, Duration.ofMinutes(5), 4);
            EngineOptions off = new EngineOptions(4, 16, 4096, 64, 1L << 30, 8, 0, 8, Duration.ofMinutes(5), 4);
            try (BatchingEngine cached = new BatchingEngine(model, tok, arch, on, null, false);
                    BatchingEngine plain = new BatchingEngine(model, tok, arch, off, null, false)) {
                long cachedTotal = 0;
                for (int i = 0; i < requests.length; i++) {
                    int[] prompt = (int[]) requests[i][0];
                    SamplingParams sp = (SamplingParams) requests[i][1];
                    Collect a = run(cached, new GenerationRequest(prompt, sp, 12, List.of(), null));
                    Collect b = run(plain, new GenerationRequest(prompt, sp, 12, List.of(), null));
                    assertThat(a.ids()).as("%s request %d", arch, i).containsExactly(b.ids());
                    assertThat(a.text.toString()).isEqualTo(b.text.toString());
                    assertThat(a.usage.cachedPromptTokens())
                            .as("%s request %d cached prompt tokens", arch, i)
                            .isEqualTo((int) requests[i][2]);
                    assertThat(b.usage.cachedPromptTokens()).isZero();
                    cachedTotal += (int) requests[i][2];
                }
                assertThat(cached.stats().cachedPromptTokens()).isEqualTo(cachedTotal);
                assertThat(cached.stats().cacheBytes()).isPositive();
                assertThat(plain.stats().cacheBytes()).isZero();
                assertThat(plain.kvBlocksInUse()).isZero();
                assertThat(cached.kvBlocksInUse() > 0)
                        .as("cached prefixes hold key/value blocks")
                        .isEqualTo(cached.hasSoftmaxLayers());
            }
        }
    }

    private static Collect run(BatchingEngine engine, GenerationRequest r) {
        Collect c = new Collect();
        engine.submit(r, c);
        for (int i = 0; i < 200 && !c.finished(); i++) {
            engine.runStep();
        }
        assertThat(c.finished()).isTrue();
        assertThat(c.error).isNull();
        return c;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
