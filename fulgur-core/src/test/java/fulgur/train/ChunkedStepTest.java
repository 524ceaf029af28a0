package fulgur.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.autograd.Autograd;
import fulgur.autograd.GradMode;
import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.models.LmTestKit;
import fulgur.models.SequenceShard;
import fulgur.models.StateCarry;
import fulgur.models.StateCarry.Slot;
import fulgur.nn.Parameter;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A sequence walked in chunks gives the loss and the gradients of one pass over the whole of it, for every architecture
 * of the zoo: chunks dividing the length or not, one chunk, chunks of a single token, from no states or from the
 * states a prefix left (with their gradients).
 */
class ChunkedStepTest {
    static final int VOCAB = 40;
    static final int B = 2;
    static final int T = 24;
    /** f32 rounding of sums taken in another order (chunk boundaries move the block sums of every scan); seen: ≤ 4e−6. */
    static final double TOL = 1e-5;

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (Architecture a : Architectures.all()) {
            for (int chunk : new int[] {T, 8, 7, 1}) {
                out.add(Arguments.of(a.name(), chunk, false));
            }
            out.add(Arguments.of(a.name(), 5, true));
            out.add(Arguments.of(a.name(), T, true));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}, chunks of {1}, initial states {2}")
    @MethodSource("cases")
    void chunkedStepEqualsTheWholeSequence(String name, int chunk, boolean withInitialStates) {
        Architecture a = Architectures.byName(name);
        assertChunkedEqualsWhole(a.smallConfig(VOCAB, 16, 2, 2), chunk, withInitialStates);
    }

    /** TNL with LRPE in both layers: each chunk's positions continue where the previous chunk's ended. */
    @ParameterizedTest(name = "chunks of {0}, initial states {1}")
    @org.junit.jupiter.params.provider.CsvSource({"7, false", "5, true"})
    void tnlWithLrpeEqualsTheWholeSequence(int chunk, boolean withInitialStates) {
        assertChunkedEqualsWhole(fulgur.models.tnl.TnlConfig.small(VOCAB, 16, 2, 2).withLrpe(List.of(1, 1)).toJson(), chunk, withInitialStates);
    }

    static void assertChunkedEqualsWhole(String config, int chunk, boolean withInitialStates) {
        Architecture a = Architectures.forConfig(config);
        try (Scope s = Scope.open(); LanguageModel m = a.build(config, 7)) {
            Tensor ids = LmTestKit.randomIds(3, B, T, VOCAB);
            Tensor targets = targets(LmTestKit.randomIds(4, B, T, VOCAB));
            Map<Slot, Tensor> initial = Map.of();
            long start = 0;
            if (withInitialStates) {
                start = 9;
                initial = prefixStates(m, LmTestKit.randomIds(5, B, (int) start, VOCAB));
                assertThat(initial).as("states a prefix leaves").isNotEmpty();
            }

            // the whole sequence in one call, from the same states
            Map<Slot, Tensor> leaves = new LinkedHashMap<>();
            initial.forEach((slot, t) -> leaves.put(slot, t.detach().copy().requiresGrad(true)));
            SequenceShard whole = initial.isEmpty() && start == 0 ? SequenceShard.WHOLE : SequenceShard.chunk(start, new StateCarry(leaves));
            Tensor loss = m.loss(ids, targets, whole);
            Autograd.backward(loss, null);
            double expectedLoss = loss.item();
            Map<String, double[]> expected = grads(m);
            m.module().zeroGrad();

            ChunkedStep.Result r = new ChunkedStep(m, chunk).run(ids, targets, initial, start, 1.0, false, null);
            assertThat(r.loss().item()).as("loss").isCloseTo(expectedLoss, org.assertj.core.data.Offset.offset(TOL * Math.abs(expectedLoss)));
            Map<String, double[]> got = grads(m);
            assertThat(got.keySet()).isEqualTo(expected.keySet());
            expected.forEach((p, g) -> assertThat(GradCheck.relErr(got.get(p), g)).as("gradient of " + p).isLessThan(TOL));
            assertThat(r.initialStateGrads().keySet()).isEqualTo(initial.keySet());
            leaves.forEach((slot, leaf) -> assertThat(GradCheck.relErr(r.initialStateGrads().get(slot).toDoubleArray(), leaf.grad().toDoubleArray()))
                    .as("gradient of the initial " + slot).isLessThan(TOL));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("architectures")
    void chunkedLossWithoutGradientsEqualsTheWholeSequence(String name) {
        Architecture a = Architectures.byName(name);
        try (Scope s = Scope.open(); LanguageModel m = a.build(a.smallConfig(VOCAB, 16, 2, 2), 8); var g = GradMode.noGrad()) {
            Tensor ids = LmTestKit.randomIds(6, B, T, VOCAB);
            Tensor targets = targets(LmTestKit.randomIds(7, B, T, VOCAB));
            double whole = m.loss(ids, targets).item();
            assertThat(new ChunkedStep(m, 7).loss(ids, targets).item()).isCloseTo(whole, org.assertj.core.data.Offset.offset(TOL * whole));
        }
    }

    static Stream<String> architectures() {
        return Architectures.all().stream().map(Architecture::name);
    }

    @org.junit.jupiter.api.Test
    void badChunkLengthsAndShapesAreRefusedInOneLine() {
        Architecture a = Architectures.byName("tnl");
        try (Scope s = Scope.open(); LanguageModel m = a.build(a.smallConfig(VOCAB, 16, 2, 2), 7)) {
            assertThatThrownBy(() -> new ChunkedStep(m, 0)).hasMessageContaining("chunk length must be >= 1");
            Tensor ids = LmTestKit.randomIds(3, B, T, VOCAB);
            assertThatThrownBy(() -> new ChunkedStep(m, 4).run(ids, LmTestKit.randomIds(3, B, T - 1, VOCAB).reshape(-1), 1.0))
                    .hasMessageContaining("targets for the");
            assertThatThrownBy(() -> new ChunkedStep(m, 4).run(ids.reshape(-1), ids.reshape(-1), 1.0)).hasMessageContaining("expected token ids [B, T]");
        }
    }

    /** Targets with some positions ignored (−100), so the chunks' shares of the counted targets differ. */
    static Tensor targets(Tensor ids) {
        int[] t = ids.toIntArray();
        for (int i = 0; i < t.length; i += 5) {
            t[i] = fulgur.ops.Losses.IGNORE_INDEX;
        }
        return Tensor.ofInts(t, B * T);
    }

    /** The states a model leaves after a prefix (no gradients). */
    static Map<Slot, Tensor> prefixStates(LanguageModel m, Tensor prefix) {
        try (var g = GradMode.noGrad()) {
            StateCarry carry = new StateCarry(Map.of());
            m.advanceStates(prefix, SequenceShard.chunk(0, carry));
            Map<Slot, Tensor> out = new LinkedHashMap<>();
            carry.finals().forEach((slot, t) -> out.put(slot, t.detach().copy()));
            return out;
        }
    }

    static Map<String, double[]> grads(LanguageModel m) {
        Map<String, double[]> out = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : m.module().namedParameters().entrySet()) {
            Tensor g = e.getValue().value().grad();
            out.put(e.getKey(), g == null ? new double[(int) e.getValue().value().numel()] : g.toDoubleArray());
        }
        return out;
    }
}
