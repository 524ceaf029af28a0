package fulgur.serve.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import fulgur.cuda.CudaContext;
import fulgur.generate.Generator;
import fulgur.models.LanguageModel;
import fulgur.serve.GenerationRequest;
import fulgur.serve.SamplingParams;
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
        try (Scope s = Scope.open(); LanguageModel cpu = Tiny.model(arch, 7); LanguageModel gpu = Tiny.model(arch, 7)) {
            gpu.module().to(Device.cuda(0));
            int[][] unbatched = new int[lengths.length][];
            for (int i = 0; i < lengths.length; i++) {
                unbatched[i] = Generator.generate(gpu, tok, Tiny.prompt(i, lengths[i]), new Generator.Settings(maxTokens[i], 0, 0, 1, 0, List.of()), null).ids();
            }
            int[][] onGpu = run(gpu, tok, arch, lengths, maxTokens, joinAt);
            int[][] onCpu = run(cpu, tok, arch, lengths, maxTokens, joinAt);
            for (int i = 0; i < lengths.length; i++) {
                assertThat(onGpu[i]).as("%s request %d on the GPU, batched vs alone", arch, i).containsExactly(unbatched[i]);
                assertThat(onGpu[i]).as("%s request %d, GPU vs CPU", arch, i).containsExactly(onCpu[i]);
            }
        }
    }

    private static int[][] run(LanguageModel model, Tokenizer tok, String arch, int[] lengths, int[] maxTokens, int[] joinAt) {
        Collect[] got = new Collect[lengths.length];
        try (BatchingEngine engine = new BatchingEngine(model, tok, arch, Tiny.options(8, 8, 16L << 20), null, false)) {
            int submitted = 0;
            for (int step = 0; step < 500; step++) {
                while (submitted < lengths.length && joinAt[submitted] <= step) {
                    got[submitted] = new Collect();
                    engine.submit(new GenerationRequest(Tiny.prompt(submitted, lengths[submitted]), SamplingParams.GREEDY, maxTokens[submitted], List.of(), null),
                            got[submitted]);
                    submitted++;
                }
                engine.runStep();
                if (submitted == lengths.length && java.util.Arrays.stream(got).allMatch(Collect::finished)) {
                    break;
                }
            }
            assertThat(engine.kvBlocksInUse() == 0 || engine.cachedEntries() > 0).isTrue();
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
