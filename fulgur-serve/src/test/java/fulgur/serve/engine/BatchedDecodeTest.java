package fulgur.serve.engine;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.generate.Generator;
import fulgur.models.LanguageModel;
import fulgur.serve.FinishReason;
import fulgur.serve.GenerationRequest;
import fulgur.serve.SamplingParams;
import fulgur.tensor.Scope;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Batched decoding gives every sequence exactly the tokens it gets alone: for each architecture, requests of different
 * prompt lengths (some longer than a prefill chunk) join at different steps and leave at different steps (different
 * maxTokens), and each one's tokens equal {@link Generator#generate} run by itself.
 */
class BatchedDecodeTest {
    static List<String> architectures() {
        return Tiny.architectures();
    }

    @ParameterizedTest
    @MethodSource("architectures")
    void batchedDecodingEqualsUnbatchedGenerationTokenForToken(String arch) {
        Tokenizer tok = ByteTokenizer.withEndOfText();
        int[] lengths = {3, 13, 1, 7, 21, 5, 9, 2};
        int[] maxTokens = {14, 6, 20, 3, 11, 17, 1, 9};
        int[] joinAt = {0, 0, 2, 3, 3, 6, 9, 12};
        SamplingParams[] sampling = new SamplingParams[lengths.length];
        for (int i = 0; i < sampling.length; i++) {
            sampling[i] = i % 3 == 2 ? new SamplingParams(0.9, 0.95, 0, 100 + i) : SamplingParams.GREEDY;
        }
        try (Scope s = Scope.open(); LanguageModel model = Tiny.model(arch, 7)) {
            int[][] expected = new int[lengths.length][];
            for (int i = 0; i < lengths.length; i++) {
                SamplingParams p = sampling[i];
                expected[i] = Generator.generate(model, tok, Tiny.prompt(i, lengths[i]),
                        new Generator.Settings(maxTokens[i], p.temperature(), p.topK(), p.topP(), p.seed(), List.of()), null).ids();
            }
            Collect[] got = new Collect[lengths.length];
            try (BatchingEngine engine = new BatchingEngine(model, tok, arch, Tiny.options(8, 8, 0), null, false)) {
                int submitted = 0;
                int maxBatch = 0;
                for (int step = 0; step < 500 && !allFinished(got); step++) {
                    while (submitted < lengths.length && joinAt[submitted] <= step) {
                        got[submitted] = new Collect();
                        engine.submit(new GenerationRequest(Tiny.prompt(submitted, lengths[submitted]), sampling[submitted], maxTokens[submitted], List.of(), null),
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
                    assertThat(got[i].ids()).as("%s request %d (prompt %d tokens)", arch, i, lengths[i]).containsExactly(expected[i]);
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

    private static boolean allFinished(Collect[] cs) {
        for (Collect c : cs) {
            if (c == null || !c.finished()) {
                return false;
            }
        }
        return true;
    }
}
