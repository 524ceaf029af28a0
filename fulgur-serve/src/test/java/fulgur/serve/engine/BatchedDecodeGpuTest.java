package fulgur.serve.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import fulgur.cuda.CudaContext;
import fulgur.generate.Generator;
import fulgur.models.LanguageModel;
import fulgur.serve.EngineOptions;
import fulgur.serve.GenerationRequest;
import fulgur.serve.SamplingParams;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Batched decoding on CUDA, for every architecture: the state pool, the in-place recurrent kernels on pool rows, the
 * paged keys and values and the prefix cache on the GPU give each sequence the tokens that unbatched generation on the
 * GPU gives it, and the tokens the same engine gives on the CPU.
 */
@Tag("gpu")
class BatchedDecodeGpuTest {
    static List<String> architectures() {
        return Tiny.architectures();
    }

    @ParameterizedTest
    @MethodSource("architectures")
    void batchedDecodingOnCudaEqualsUnbatchedAndTheCpu(String arch) {
        assumeTrue(CudaContext.isAvailable(), "no CUDA driver or device: GPU test skipped");
        Tokenizer tok = ByteTokenizer.withEndOfText();
        int[] lengths = {3, 13, 1, 7, 21, 5, 9, 2};
        int[] maxTokens = {14, 6, 20, 3, 11, 17, 1, 9};
        int[] joinAt = {0, 0, 2, 3, 3, 6, 9, 12};
        try (Scope s = Scope.open();
                LanguageModel cpu = Tiny.model(arch, 7);
                LanguageModel gpu = Tiny.model(arch, 7)) {
            gpu.module().to(Device.cuda(0));
            int[][] unbatched = new int[lengths.length][];
            for (int i = 0; i < lengths.length; i++) {
                unbatched[i] = Generator.generate(
                                gpu,
                                tok,
                                Tiny.prompt(i, lengths[i]),
                                new Generator.Settings(maxTokens[i], 0, 0, 1, 0, List.of()),
                                null)
                        .ids();
            }
            int[][] onGpu = run(gpu, tok, arch, lengths, maxTokens, joinAt);
            int[][] onCpu = run(cpu, tok, arch, lengths, maxTokens, joinAt);
            for (int i = 0; i < lengths.length; i++) {
                assertThat(onGpu[i])
                        .as("%s request %d on the GPU, batched vs alone", arch, i)
                        .containsExactly(unbatched[i]);
                assertThat(onGpu[i]).as("%s request %d, GPU vs CPU", arch, i).containsExactly(onCpu[i]);
            }
        }
    }

    /**
     * The decode step recorded as a CUDA graph and replayed gives the tokens of eager steps (the same kernels on the
     * same memory), for TNL in f32 and in bf16; the engine keeps one graph per batch size it saw twice in a row, at
     * most as many as asked, and none where it may not record.
     */
    @ParameterizedTest
    @MethodSource("precisions")
    void recordedDecodeStepsGiveTheEagerTokens(DType dtype) {
        assumeTrue(CudaContext.isAvailable(), "no CUDA driver or device: GPU test skipped");
        Tokenizer tok = new ByteTokenizer(List.of("<|pad|>")); // no end of text: every request runs to its maxTokens
        try (Scope s = Scope.open();
                LanguageModel gpu = Tiny.model("tnl", 5)) {
            gpu.module().to(Device.cuda(0));
            gpu.module().to(dtype);
            int[] lengths = {9, 9, 9, 9, 9, 9};
            int[] maxTokens = {12, 12, 12, 12, 7, 7}; // 6 rows, then 4: two batch sizes
            int[][] eager = run(gpu, tok, "tnl", lengths, maxTokens, 0, 0);
            int[][] graphed = run(gpu, tok, "tnl", lengths, maxTokens, 4, 2);
            int[][] one = run(gpu, tok, "tnl", lengths, maxTokens, 1, 1);
            for (int i = 0; i < lengths.length; i++) {
                assertThat(graphed[i]).as("request %d, graphs vs eager", i).containsExactly(eager[i]);
                assertThat(one[i]).as("request %d, one graph vs eager", i).containsExactly(eager[i]);
            }
        }
        try (Scope s = Scope.open();
                LanguageModel lrpe = Tiny.model("tnl-lrpe", 5)) {
            lrpe.module().to(Device.cuda(0));
            run(
                    lrpe,
                    tok,
                    "tnl-lrpe",
                    new int[] {4, 4, 4},
                    new int[] {6, 6, 6},
                    4,
                    0); // positions on the host: never recorded
        }
    }

    static List<DType> precisions() {
        return List.of(DType.F32, DType.BF16);
    }

    /** All requests submitted at once (prompts of 9 tokens: two chunks of prefill, then decoding together). */
    private static int[][] run(
            LanguageModel model,
            Tokenizer tok,
            String arch,
            int[] lengths,
            int[] maxTokens,
            int maxGraphs,
            int expectedGraphs) {
        Collect[] got = new Collect[lengths.length];
        EngineOptions o = Tiny.options(8, 8, 0);
        o = new EngineOptions(
                o.maxRunning(),
                o.maxQueued(),
                o.maxPromptTokens(),
                o.maxNewTokens(),
                o.memoryBudgetBytes(),
                o.prefillChunkTokens(),
                o.stateCacheBytes(),
                o.stateCacheInterval(),
                o.defaultTimeout(),
                maxGraphs);
        try (BatchingEngine engine = new BatchingEngine(model, tok, arch, o, null, false)) {
            for (int i = 0; i < lengths.length; i++) {
                got[i] = new Collect();
                engine.submit(
                        new GenerationRequest(
                                Tiny.prompt(30 + i, lengths[i]), SamplingParams.GREEDY, maxTokens[i], List.of(), null),
                        got[i]);
            }
            for (int step = 0; step < 100 && !java.util.Arrays.stream(got).allMatch(Collect::finished); step++) {
                engine.runStep();
            }
            assertThat(engine.decodeGraphs())
                    .as("%s graphs kept (at most %d)", arch, maxGraphs)
                    .isEqualTo(expectedGraphs);
        }
        int[][] out = new int[lengths.length][];
        for (int i = 0; i < out.length; i++) {
            assertThat(got[i].error).as("request %d", i).isNull();
            assertThat(got[i].ids()).hasSize(maxTokens[i]);
            out[i] = got[i].ids();
        }
        return out;
    }

    private static int[][] run(
            LanguageModel model, Tokenizer tok, String arch, int[] lengths, int[] maxTokens, int[] joinAt) {
        Collect[] got = new Collect[lengths.length];
        try (BatchingEngine engine = new BatchingEngine(model, tok, arch, Tiny.options(8, 8, 16L << 20), null, false)) {
            int submitted = 0;
            for (int step = 0; step < 500; step++) {
                while (submitted < lengths.length && joinAt[submitted] <= step) {
                    got[submitted] = new Collect();
                    engine.submit(
                            new GenerationRequest(
                                    Tiny.prompt(submitted, lengths[submitted]),
                                    SamplingParams.GREEDY,
                                    maxTokens[submitted],
                                    List.of(),
                                    null),
                            got[submitted]);
                    submitted++;
                }
                engine.runStep();
                if (submitted == lengths.length && java.util.Arrays.stream(got).allMatch(Collect::finished)) {
                    break;
                }
            }
            assertThat(engine.kvBlocksInUse() == 0 || engine.cachedEntries() > 0)
                    .isTrue();
        }
        int[][] out = new int[lengths.length][];
        for (int i = 0; i < out.length; i++) {
            assertThat(got[i].finished()).isTrue();
            assertThat(got[i].error).as("request %d", i).isNull();
            out[i] = got[i].ids();
        }
        return out;
    }
}
