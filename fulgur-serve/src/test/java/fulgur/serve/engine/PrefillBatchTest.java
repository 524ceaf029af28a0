package fulgur.serve.engine;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.generate.Generator;
import fulgur.models.BatchState;
import fulgur.models.CausalLM;
import fulgur.models.DecodeCache;
import fulgur.models.LanguageModel;
import fulgur.nn.Module;
import fulgur.serve.GenerationRequest;
import fulgur.serve.SamplingParams;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Prompts admitted together into neighbouring slots share prefill forwards: chunks of one length from rows that all
 * start fresh go through one forward of [rows, chunk] ids, and every request still gets exactly the tokens it gets
 * alone (greedy rows picked on the device, seeded rows sampled on the host, in the same batches).
 */
class PrefillBatchTest {

    /** Delegates to a model and records the shape of the ids of every forward the engine makes. */
    private static final class Counting implements CausalLM {
        final CausalLM model;
        final List<String> forwards = new ArrayList<>();

        Counting(CausalLM model) {
            this.model = model;
        }

        @Override
        public Module module() {
            return model.module();
        }

        @Override
        public int vocabSize() {
            return model.vocabSize();
        }

        @Override
        public Tensor forward(Tensor ids) {
            return model.forward(ids);
        }

        @Override
        public Tensor forward(Tensor ids, DecodeCache cache) {
            return model.forward(ids, cache);
        }

        @Override
        public Tensor lastLogits(Tensor ids, DecodeCache cache) {
            forwards.add(ids.size(0) + "x" + ids.size(1));
            return model.lastLogits(ids, cache);
        }

        @Override
        public Tensor loss(Tensor inputs, Tensor targets) {
            return model.loss(inputs, targets);
        }

        @Override
        public DecodeCache newCache() {
            return model.newCache();
        }

        @Override
        public DecodeCache newCache(BatchState batch) {
            return model.newCache(batch);
        }

        @Override
        public String configJson() {
            return model.configJson();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tnl", "hgrn2", "tnl-lrpe"})
    void promptsAdmittedTogetherShareForwardsAndKeepTheirTokens(String arch) {
        Tokenizer tok = ByteTokenizer.withEndOfText();
        // chunk 8, slots 7..1 in admission order: first chunks 4,4 | 8,8,8,8,8 (by slot); the short prompts then
        // decode;
        // second chunks 8 | 4 | 8,8,8 (the 12-token prompt ends and decodes too)
        int[] lengths = {20, 20, 20, 12, 20, 4, 4};
        int n = lengths.length;
        SamplingParams[] sampling = new SamplingParams[n];
        for (int i = 0; i < n; i++) {
            sampling[i] = i % 2 == 1 ? new SamplingParams(0.8, 0.9, 0, 40 + i) : SamplingParams.GREEDY;
        }
        try (Scope s = Scope.open();
                LanguageModel model = Tiny.model(arch, 11)) {
            int[][] expected = new int[n][];
            for (int i = 0; i < n; i++) {
                SamplingParams p = sampling[i];
                expected[i] = Generator.generate(
                                model,
                                tok,
                                Tiny.prompt(50 + i, lengths[i]),
                                new Generator.Settings(6, p.temperature(), p.topK(), p.topP(), p.seed(), List.of()),
                                null)
                        .ids();
            }
            Counting counting = new Counting(model);
            Collect[] got = new Collect[n];
            try (BatchingEngine engine = new BatchingEngine(counting, tok, arch, Tiny.options(8, 8, 0), null, false)) {
                for (int i = 0; i < n; i++) {
                    got[i] = new Collect();
                    engine.submit(
                            new GenerationRequest(Tiny.prompt(50 + i, lengths[i]), sampling[i], 6, List.of(), null),
                            got[i]);
                }
                engine.runStep();
                assertThat(counting.forwards).as("the first step's forwards").containsExactly("2x4", "5x8", "2x1");
                counting.forwards.clear();
                engine.runStep();
                assertThat(counting.forwards)
                        .as("the second step: prefill, then the two short prompts decoding")
                        .containsExactly("1x8", "1x4", "3x8", "3x1");
                for (int step = 0; step < 50; step++) {
                    engine.runStep();
                }
            }
            for (int i = 0; i < n; i++) {
                assertThat(got[i].error).as("request %d", i).isNull();
                assertThat(got[i].ids())
                        .as("%s request %d (prompt %d tokens, %s)", arch, i, lengths[i], sampling[i])
                        .containsExactly(expected[i]);
            }
        }
    }

    /**
     * While sequences decode, a few short prompts wait one decode step so that prompts admitted in the next step share
     * their forward; a prompt waits once at most, a chunk's worth of tokens does not wait, and every request keeps the
     * tokens it gets alone.
     */
    @ParameterizedTest
    @ValueSource(strings = {"tnl", "hgrn2"})
    void fewPromptsWaitOneDecodeStepToShareTheirForward(String arch) {
        Tokenizer tok = ByteTokenizer.withEndOfText();
        int[] lengths = {4, 4, 4, 8, 4};
        int n = lengths.length;
        SamplingParams[] sampling = new SamplingParams[n];
        for (int i = 0; i < n; i++) {
            sampling[i] = i % 2 == 1 ? new SamplingParams(0.8, 0.9, 0, 60 + i) : SamplingParams.GREEDY;
        }
        try (Scope s = Scope.open();
                LanguageModel model = Tiny.model(arch, 13)) {
            int[][] expected = new int[n][];
            GenerationRequest[] requests = new GenerationRequest[n];
            for (int i = 0; i < n; i++) {
                SamplingParams p = sampling[i];
                int[] prompt = Tiny.prompt(70 + i, lengths[i]);
                expected[i] = Generator.generate(
                                model,
                                tok,
                                prompt,
                                new Generator.Settings(12, p.temperature(), p.topK(), p.topP(), p.seed(), List.of()),
                                null)
                        .ids();
                requests[i] = new GenerationRequest(prompt, p, 12, List.of(), null);
            }
            Counting counting = new Counting(model);
            Collect[] got = new Collect[n];
            for (int i = 0; i < n; i++) {
                got[i] = new Collect();
            }
            try (BatchingEngine engine = new BatchingEngine(counting, tok, arch, Tiny.options(8, 8, 0), null, false)) {
                engine.submit(requests[0], got[0]);
                engine.runStep();
                assertThat(counting.forwards).as("nothing decodes: no wait").containsExactly("1x4", "1x1");
                counting.forwards.clear();
                engine.submit(requests[1], got[1]);
                engine.runStep();
                assertThat(counting.forwards)
                        .as("one short prompt waits a step")
                        .containsExactly("1x1");
                counting.forwards.clear();
                engine.submit(requests[2], got[2]);
                engine.runStep();
                assertThat(counting.forwards)
                        .as("the held prompt and the new one share a forward, then all three decode")
                        .containsExactly("2x4", "3x1");
                counting.forwards.clear();
                engine.submit(requests[3], got[3]);
                engine.runStep();
                assertThat(counting.forwards)
                        .as("a chunk's worth of prompt does not wait")
                        .containsExactly("1x8", "4x1");
                counting.forwards.clear();
                engine.submit(requests[4], got[4]);
                engine.runStep();
                engine.runStep();
                assertThat(counting.forwards)
                        .as("alone, a held prompt goes through on the next step")
                        .containsExactly("4x1", "1x4", "5x1");
                for (int step = 0; step < 30; step++) {
                    engine.runStep();
                }
            }
            for (int i = 0; i < n; i++) {
                assertThat(got[i].error).as("request %d", i).isNull();
                assertThat(got[i].ids())
                        .as("%s request %d (prompt %d tokens, %s)", arch, i, lengths[i], sampling[i])
                        .containsExactly(expected[i]);
            }
        }
    }
}
