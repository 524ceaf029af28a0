package fulgur.dist.sp;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.dist.ProcessGroup;
import fulgur.dist.ReduceOp;
import fulgur.dist.TestArrays;
import fulgur.dist.ddp.GradientSync;
import fulgur.dist.local.LocalWorld;
import fulgur.models.LanguageModel;
import fulgur.models.SequenceShard;
import fulgur.models.llama.LlamaConfig;
import fulgur.models.llama.LlamaModel;
import fulgur.models.minimax.MiniMaxConfig;
import fulgur.models.minimax.MiniMaxModel;
import fulgur.nn.Parameter;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Llama (softmax layers through LASP-2H, RoPE at whole-sequence positions), Linear-Llama (LASP/LASP-2) and the MiniMax
 * hybrid (both): a sequence-parallel training step (loss and every gradient) equals the single-rank step. MiniMax runs
 * with router_aux_loss_coef 0 here: its load-balancing loss is computed over each rank's own tokens, which is not the
 * whole sequence's (a product of means), so with it on the two steps differ slightly by design.
 */
class AttnModelsSpEquivalenceTest {
    static final int VOCAB = 53;
    static final Duration TIMEOUT = Duration.ofSeconds(60);

    record Step(double loss, Map<String, double[]> grads) {}

    static Supplier<LanguageModel> model(String name) {
        return switch (name) {
            case "llama" -> () -> new LlamaModel(LlamaConfig.small("llama", VOCAB, 32, 2, 4), 7);
            case "linear-llama" -> () -> new LlamaModel(LlamaConfig.small("linear_llama", VOCAB, 32, 2, 4), 7);
            default ->
                () -> new MiniMaxModel(
                        MiniMaxConfig.parse(MiniMaxConfig.small(VOCAB, 32, 2, 4)
                                .toJson()
                                .replaceAll("\"router_aux_loss_coef\" : [0-9.eE-]+", "\"router_aux_loss_coef\" : 0")),
                        7);
        };
    }

    static int[][] batch(int b, int t, long seed) {
        Random rnd = new Random(seed);
        int[] in = new int[b * t];
        int[] tg = new int[b * t];
        for (int i = 0; i < in.length; i++) {
            in[i] = rnd.nextInt(VOCAB);
            tg[i] = rnd.nextInt(10) == 0 ? -100 : rnd.nextInt(VOCAB);
        }
        return new int[][] {in, tg};
    }

    static Map<String, double[]> grads(LanguageModel m) {
        Map<String, double[]> g = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : m.module().namedParameters().entrySet()) {
            if (e.getValue().grad() != null) {
                g.put(e.getKey(), e.getValue().grad().toDoubleArray());
            }
        }
        return g;
    }

    static Step rankStep(ProcessGroup pg, String name, SpAlgorithm algorithm, int b, int t, int[][] data) {
        try (LanguageModel m = model(name).get();
                Scope s = Scope.open()) {
            SequenceLayout layout = SequenceLayout.even(t, pg.size());
            Tensor inputs = SequenceParallel.slice(Tensor.ofInts(data[0], b, t), layout, pg.rank());
            Tensor targets = SequenceParallel.slice(Tensor.ofInts(data[1], b, t), layout, pg.rank());
            SequenceShard shard = SequenceParallel.shard(pg, algorithm, layout, 16);
            Tensor mean = m.loss(inputs, targets.reshape(-1), shard);
            Tensor loss = SequenceParallel.weightedLoss(
                    mean, SequenceParallel.countTargets(targets.toIntArray()), SequenceParallel.countTargets(data[1]));
            try (GradientSync sync = new GradientSync(m.module().parameters(), pg, 1.0, 3000)) {
                sync.backward(loss);
            }
            Tensor total = Tensor.of(new double[] {loss.item()}, 1);
            pg.allReduce(total, ReduceOp.SUM).await();
            return new Step(total.item(), grads(m));
        }
    }

    @ParameterizedTest(name = "{0}, {1} on {2} ranks")
    @CsvSource({
        "llama, LASP2, 3",
        "linear-llama, LASP, 2",
        "linear-llama, LASP2, 3",
        "minimax, LASP2, 2",
        "minimax, LASP, 3"
    })
    void sequenceParallelStepEqualsSingleRank(String name, SpAlgorithm algorithm, int ranks) {
        int b = 2, t = ranks * 13;
        int[][] data = batch(b, t, 11 + ranks);
        Step ref;
        try (LanguageModel m = model(name).get();
                Scope s = Scope.open()) {
            Tensor loss = m.loss(Tensor.ofInts(data[0], b, t), Tensor.ofInts(data[1], b * t));
            loss.backward();
            ref = new Step(loss.item(), grads(m));
        }
        List<Step> steps = LocalWorld.run(ranks, TIMEOUT, pg -> rankStep(pg, name, algorithm, b, t, data));
        for (int r = 0; r < steps.size(); r++) {
            Step st = steps.get(r);
            assertThat(Math.abs(st.loss() - ref.loss()) / Math.abs(ref.loss()))
                    .as("loss on rank %d", r)
                    .isLessThan(1e-5);
            for (Map.Entry<String, double[]> e : ref.grads().entrySet()) {
                double[] g = st.grads().get(e.getKey());
                assertThat(g).as("gradient of %s on rank %d", e.getKey(), r).isNotNull();
                assertThat(TestArrays.relErr(g, e.getValue()))
                        .as("gradient of %s on rank %d", e.getKey(), r)
                        .isLessThan(1e-5);
            }
        }
    }
}
