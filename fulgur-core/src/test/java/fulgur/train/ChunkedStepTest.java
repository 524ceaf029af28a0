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
import fulgur.tensor.DType;
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
 * states a prefix left (with their gradients), from positions past 2³¹; in f64 to rounding, in f32 to f32's.
 */
class ChunkedStepTest {
    static final int VOCAB = 40;
    static final int B = 2;
    static final int T = 24;
    /**
     * What chunks may add in f32 to the rounding one f32 pass has against the f64 pass (chunk boundaries move the block
     * sums of every scan); seen: ≤ 6e−6 (LCSM in one-token chunks).
     */
    static final double TOL = 1e-5;
    /** f64 rounding of the same sums in another order; seen: ≤ 2e−15. */
    static final double TOL64 = 1e-11;

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
        assertChunkedEqualsWhole(
                fulgur.models.tnl.TnlConfig.small(VOCAB, 16, 2, 2)
                        .withLrpe(List.of(1, 1))
                        .toJson(),
                chunk,
                withInitialStates);
    }

    /**
     * Positions past 2³¹ − 1 (the last chunks of a sequence of billions of tokens): chunks whose boundaries straddle
     * 2³¹ give one pass's loss and gradients from the same position, for the models whose layers encode positions
     * (LRPE, RoPE in softmax and lightning layers).
     */
    @ParameterizedTest(name = "{0}, from position {1}")
    @org.junit.jupiter.params.provider.CsvSource({
        "tnl-lrpe, 2147483641",
        "llama, 2147483641",
        "linear-llama, 2147483641",
        "minimax, 2147483641",
        "tnl-lrpe, 8589934590",
        "llama, 8589934590"
    })
    void chunksPastTwoToTheThirtyOneEqualTheWholeSequence(String name, long start) {
        String config = name.equals("tnl-lrpe")
                ? fulgur.models.tnl.TnlConfig.small(VOCAB, 16, 2, 2)
                        .withLrpe(List.of(1, 1))
                        .toJson()
                : Architectures.byName(name).smallConfig(VOCAB, 16, 2, 2);
        assertChunkedEqualsWhole(config, 7, true, start);
    }

    static void assertChunkedEqualsWhole(String config, int chunk, boolean withInitialStates) {
        assertChunkedEqualsWhole(config, chunk, withInitialStates, withInitialStates ? 9 : 0);
    }

    /**
     * From {@code start} (with the states of a 9-token prefix when {@code withInitialStates}). In f64 the chunks give one
     * pass's loss and gradients to rounding: the same sums taken in another order. In f32 they are within {@link #TOL} of
     * the f64 pass beyond what one f32 pass loses itself: some models lose more to f32 rounding in one pass than chunking
     * moves (MetaLA's gradients sit 1e-4 from the f64 pass's either way), so two f32 forms differ by that rounding.
     * Positions far from 0 have angles of up to {@code start} radians (RoPE's fastest frequency is 1, LRPE's learned
     * ones are below it), which f64 holds to start · 2⁻⁵³: there the f64 forms agree to that.
     */
    static void assertChunkedEqualsWhole(String config, int chunk, boolean withInitialStates, long start) {
        double tol64 = Math.max(TOL64, start * 0x1p-52);
        Pass whole64 = pass(config, 0, withInitialStates, start, DType.F64);
        Pass chunked64 = pass(config, chunk, withInitialStates, start, DType.F64);
        assertThat(Math.abs(chunked64.loss() - whole64.loss()))
                .as("f64 loss")
                .isLessThan(tol64 * Math.abs(whole64.loss()));
        assertThat(chunked64.grads().keySet()).isEqualTo(whole64.grads().keySet());
        whole64.grads()
                .forEach((p, g) -> assertThat(GradCheck.relErr(chunked64.grads().get(p), g))
                        .as("f64 gradient of " + p)
                        .isLessThan(tol64));
        assertThat(chunked64.stateGrads().keySet())
                .isEqualTo(whole64.stateGrads().keySet());
        whole64.stateGrads()
                .forEach((slot, g) -> assertThat(
                                GradCheck.relErr(chunked64.stateGrads().get(slot), g))
                        .as("f64 gradient of the initial " + slot)
                        .isLessThan(tol64));

        Pass whole32 = pass(config, 0, withInitialStates, start, DType.F32);
        Pass chunked32 = pass(config, chunk, withInitialStates, start, DType.F32);
        double lossErr = Math.abs(whole32.loss() - whole64.loss()) / Math.abs(whole64.loss());
        assertThat(Math.abs(chunked32.loss() - whole64.loss()) / Math.abs(whole64.loss()))
                .as("f32 loss against f64 (one f32 pass: %.2e)", lossErr)
                .isLessThan(lossErr + TOL);
        whole64.grads().forEach((p, g) -> {
            double err = GradCheck.relErr(whole32.grads().get(p), g);
            assertThat(GradCheck.relErr(chunked32.grads().get(p), g))
                    .as("f32 gradient of %s against f64 (one f32 pass: %.2e)", p, err)
                    .isLessThan(err + TOL);
        });
        whole64.stateGrads().forEach((slot, g) -> {
            double err = GradCheck.relErr(whole32.stateGrads().get(slot), g);
            assertThat(GradCheck.relErr(chunked32.stateGrads().get(slot), g))
                    .as("f32 gradient of the initial %s against f64 (one f32 pass: %.2e)", slot, err)
                    .isLessThan(err + TOL);
        });
    }

    /** A step's loss, parameter gradients and initial-state gradients. */
    record Pass(double loss, Map<String, double[]> grads, Map<Slot, double[]> stateGrads) {}

    /** One step in {@code dtype}: in chunks of {@code chunk} tokens, or as one call over the whole sequence (0). */
    static Pass pass(String config, int chunk, boolean withInitialStates, long start, DType dtype) {
        Architecture a = Architectures.forConfig(config);
        try (Scope s = Scope.open();
                LanguageModel m = a.build(config, 7)) {
            if (dtype != DType.F32) {
                m.module()
                        .namedParameters()
                        .forEach((n, p) -> p.replace(p.value().to(dtype)));
            }
            Tensor ids = LmTestKit.randomIds(3, B, T, VOCAB);
            Tensor targets = targets(LmTestKit.randomIds(4, B, T, VOCAB));
            Map<Slot, Tensor> initial = Map.of();
            if (withInitialStates) {
                initial = prefixStates(m, LmTestKit.randomIds(5, B, 9, VOCAB));
                assertThat(initial).as("states a prefix leaves").isNotEmpty();
            }
            Map<Slot, double[]> stateGrads = new LinkedHashMap<>();
            if (chunk > 0) {
                ChunkedStep.Result r = new ChunkedStep(m, chunk).run(ids, targets, initial, start, 1.0, false, null);
                r.initialStateGrads().forEach((slot, g) -> stateGrads.put(slot, g.toDoubleArray()));
                return new Pass(r.loss().item(), grads(m), stateGrads);
            }
            Map<Slot, Tensor> leaves = new LinkedHashMap<>();
            initial.forEach((slot, t) -> leaves.put(slot, t.detach().copy().requiresGrad(true)));
            SequenceShard whole = initial.isEmpty() && start == 0
                    ? SequenceShard.WHOLE
                    : SequenceShard.chunk(start, new StateCarry(leaves));
            Tensor loss = m.loss(ids, targets, whole);
            Autograd.backward(loss, null);
            leaves.forEach((slot, leaf) -> stateGrads.put(slot, leaf.grad().toDoubleArray()));
            return new Pass(loss.item(), grads(m), stateGrads);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("architectures")
    void chunkedLossWithoutGradientsEqualsTheWholeSequence(String name) {
        Architecture a = Architectures.byName(name);
        try (Scope s = Scope.open();
                LanguageModel m = a.build(a.smallConfig(VOCAB, 16, 2, 2), 8);
                var g = GradMode.noGrad()) {
            Tensor ids = LmTestKit.randomIds(6, B, T, VOCAB);
            Tensor targets = targets(LmTestKit.randomIds(7, B, T, VOCAB));
            double whole = m.loss(ids, targets).item();
            assertThat(new ChunkedStep(m, 7).loss(ids, targets).item())
                    .isCloseTo(whole, org.assertj.core.data.Offset.offset(TOL * whole));
        }
    }

    static Stream<String> architectures() {
        return Architectures.all().stream().map(Architecture::name);
    }

    @org.junit.jupiter.api.Test
    void badChunkLengthsAndShapesAreRefusedInOneLine() {
        Architecture a = Architectures.byName("tnl");
        try (Scope s = Scope.open();
                LanguageModel m = a.build(a.smallConfig(VOCAB, 16, 2, 2), 7)) {
            assertThatThrownBy(() -> new ChunkedStep(m, 0)).hasMessageContaining("chunk length must be >= 1");
            Tensor ids = LmTestKit.randomIds(3, B, T, VOCAB);
            assertThatThrownBy(() -> new ChunkedStep(m, 4)
                            .run(ids, LmTestKit.randomIds(3, B, T - 1, VOCAB).reshape(-1), 1.0))
                    .hasMessageContaining("targets for the");
            assertThatThrownBy(() -> new ChunkedStep(m, 4).run(ids.reshape(-1), ids.reshape(-1), 1.0))
                    .hasMessageContaining("expected token ids [B, T]");
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
            out.put(
                    e.getKey(),
                    g == null ? new double[(int) e.getValue().value().numel()] : g.toDoubleArray());
        }
        return out;
    }
}
