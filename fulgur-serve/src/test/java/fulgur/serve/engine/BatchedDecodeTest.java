package fulgur.serve.engine;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.generate.Generator;
import fulgur.models.LanguageModel;
import fulgur.ops.Elementwise;
import fulgur.serve.FinishReason;
import fulgur.serve.GenerationRequest;
import fulgur.serve.SamplingParams;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Batched decoding gives every sequence exactly the tokens it gets alone: for each architecture, requests of different
 * prompt lengths (some longer than a prefill chunk) join at different steps and leave at different steps (different
 * maxTokens), and each one's tokens equal {@link Generator#generate} run by itself. Neither gives an id the tokenizer
 * does not have, where the model's vocabulary is padded past it.
 */
class BatchedDecodeTest {
    static List<String> architectures() {
        return Tiny.architectures();
    }

    @ParameterizedTest
    @MethodSource("architectures")
    void batchedDecodingEqualsUnbatchedGenerationTokenForToken(String arch) {
        // no end of text: every request runs to its maxTokens, so which requests overlap follows from the schedule
        // alone
        Tokenizer tok = new ByteTokenizer(List.of("<|pad|>"));
        int[] lengths = {3, 13, 1, 7, 21, 5, 9, 2};
        int[] maxTokens = {14, 6, 20, 3, 11, 17, 1, 9};
        int[] joinAt = {0, 0, 2, 3, 3, 6, 9, 12};
        SamplingParams[] sampling = new SamplingParams[lengths.length];
        for (int i = 0; i < sampling.length; i++) {
            sampling[i] = i % 3 == 2 ? new SamplingParams(0.9, 0.95, 0, 100 + i) : SamplingParams.GREEDY;
        }
        try (Scope s = Scope.open();
                LanguageModel model = Tiny.model(arch, 7)) {
            int[][] expected = new int[lengths.length][];
            for (int i = 0; i < lengths.length; i++) {
                SamplingParams p = sampling[i];
                expected[i] = Generator.generate(
                                model,
                                tok,
                                Tiny.prompt(i, lengths[i]),
                                new Generator.Settings(
                                        maxTokens[i], p.temperature(), p.topK(), p.topP(), p.seed(), List.of()),
                                null)
                        .ids();
            }
            Collect[] got = new Collect[lengths.length];
            try (BatchingEngine engine = new BatchingEngine(model, tok, arch, Tiny.options(8, 8, 0), null, false)) {
                int submitted = 0;
                int maxBatch = 0;
                for (int step = 0; step < 500 && !allFinished(got); step++) {
                    while (submitted < lengths.length && joinAt[submitted] <= step) {
                        got[submitted] = new Collect();
                        engine.submit(
                                new GenerationRequest(
                                        Tiny.prompt(submitted, lengths[submitted]),
                                        sampling[submitted],
                                        maxTokens[submitted],
                                        List.of(),
                                        null),
                                got[submitted]);
                        submitted++;
                    }
                    engine.runStep();
                    maxBatch = Math.max(maxBatch, engine.stats().running());
                }
                assertThat(maxBatch).as("sequences running together").isGreaterThanOrEqualTo(5);
                for (int i = 0; i < lengths.length; i++) {
                    assertThat(got[i].finished()).as("request %d finished", i).isTrue();
                    assertThat(got[i].error).isNull();
                    assertThat(got[i].ids())
                            .as("%s request %d (prompt %d tokens)", arch, i, lengths[i])
                            .containsExactly(expected[i]);
                    assertThat(got[i].reason).isIn(FinishReason.LENGTH, FinishReason.STOP);
                    assertThat(got[i].usage.completionTokens()).isEqualTo(expected[i].length);
                    assertThat(got[i].usage.promptTokens()).isEqualTo(lengths[i]);
                }
                assertThat(engine.stats().running()).isZero();
                assertThat(engine.stats().stateBytes()).isZero();
                assertThat(engine.stats().kvBytes()).isZero();
                assertThat(engine.kvBlocksInUse()).isZero();
            }
        }
    }

    /**
     * A model vocabulary one id past the tokenizer's (257 against 256 bytes), its extra id made likely (its tied
     * embedding row scaled up): unmasked, greedy decoding picks it; the engine, greedy on the device and sampling on the
     * host, never gives it and gives what {@link Generator#generate} gives.
     */
    @Test
    void idsPastTheTokenizersVocabularyAreNeverGiven() {
        Tokenizer bytes = new ByteTokenizer(List.of());
        Tokenizer padded = new ByteTokenizer(List.of("<|pad|>"));
        int[] lengths = {5, 11, 3, 8};
        SamplingParams[] sampling = {
            SamplingParams.GREEDY,
            new SamplingParams(1.5, 1.0, 0, 41),
            SamplingParams.GREEDY,
            new SamplingParams(1.5, 1.0, 0, 43)
        };
        try (Scope s = Scope.open();
                LanguageModel model = Tiny.model("tnl", 7)) {
            Tensor extra = model.module()
                    .namedParameters()
                    .get("model.embed_tokens.weight")
                    .value()
                    .narrow(0, Tiny.VOCAB - 1, 1);
            extra.copyFrom(Elementwise.mulScalar(extra, 8));
            boolean picked = false;
            for (int i = 0; i < lengths.length; i++) {
                int[] all = Generator.generate(
                                model,
                                padded,
                                Tiny.prompt(i, lengths[i]),
                                new Generator.Settings(12, 0, 0, 1, 0, List.of()),
                                null)
                        .ids();
                picked |= java.util.Arrays.stream(all).anyMatch(id -> id == Tiny.VOCAB - 1);
            }
            assertThat(picked).as("the extra id is the argmax somewhere").isTrue();
            Collect[] got = new Collect[lengths.length];
            try (BatchingEngine engine = new BatchingEngine(model, bytes, "tnl", Tiny.options(8, 8, 0), null, false)) {
                for (int i = 0; i < lengths.length; i++) {
                    got[i] = new Collect();
                    engine.submit(
                            new GenerationRequest(Tiny.prompt(i, lengths[i]), sampling[i], 12, List.of(), null),
                            got[i]);
                }
                for (int step = 0; step < 100 && !allFinished(got); step++) {
                    engine.runStep();
                }
            }
            for (int i = 0; i < lengths.length; i++) {
                SamplingParams p = sampling[i];
                int[] alone = Generator.generate(
                                model,
                                bytes,
                                Tiny.prompt(i, lengths[i]),
                                new Generator.Settings(12, p.temperature(), p.topK(), p.topP(), p.seed(), List.of()),
                                null)
                        .ids();
                assertThat(got[i].error).as("request %d", i).isNull();
                assertThat(got[i].ids())
                        .as("request %d", i)
                        .hasSize(12)
                        .doesNotContain(Tiny.VOCAB - 1)
                        .containsExactly(alone);
            }
        }
    }

    private static boolean allFinished(Collect[] cs) {
        for (Collect c : cs) {
            if (c == null || !c.finished()) {
                return false;
            }
        }
        return true;
    }
}
