package fulgur.models;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.Autograd;
import fulgur.backend.Backends;
import fulgur.nn.Parameter;
import fulgur.tensor.Device;
import fulgur.tensor.HostAllocator;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Activation checkpointing recomputes each layer in the backward: the loss is the plain step's bit for bit (the same
 * operations on the same inputs), every gradient is too up to the order in which a parameter read by several layers
 * (HGRN2's lower bounds) sums its layers' contributions, and the step's peak memory is lower.
 */
class ActivationCheckpointingTest {
    static final int VOCAB = 40;

    static Stream<String> architectures() {
        return Architectures.all().stream().map(Architecture::name);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("architectures")
    void checkpointedStepGivesTheSameGradientsWithLessMemory(String name) {
        Architecture a = Architectures.byName(name);
        try (Scope s = Scope.open();
                LanguageModel m = a.build(a.smallConfig(VOCAB, 32, 3, 2), 11)) {
            Tensor ids = LmTestKit.randomIds(1, 2, 64, VOCAB);
            Tensor targets = LmTestKit.randomIds(2, 2, 64, VOCAB).reshape(-1);
            step(m, ids, targets); // warm-up: the parameters' gradient buffers exist from here on
            m.module().zeroGrad();
            long plainPeak = step(m, ids, targets);
            double plainLoss = lastLoss;
            Map<String, double[]> plain = grads(m);
            m.module().zeroGrad();
            m.checkpointActivations(true);
            long checkpointedPeak = step(m, ids, targets);
            m.checkpointActivations(false);
            assertThat(lastLoss).isEqualTo(plainLoss);
            Map<String, double[]> got = grads(m);
            plain.forEach((p, g) -> assertThat(fulgur.testing.GradCheck.relErr(got.get(p), g))
                    .as("gradient of " + p)
                    .isLessThan(1e-6));
            assertThat(checkpointedPeak)
                    .as("peak bytes checkpointed vs plain (%d)", plainPeak)
                    .isLessThan(plainPeak * 3 / 4);
        }
    }

    private double lastLoss;

    /** One forward and backward as the training step runs it; returns the peak bytes held above those held before. */
    private long step(LanguageModel m, Tensor ids, Tensor targets) {
        try (Scope step = Scope.open("step")) {
            long before = HostAllocator.bytesInUse();
            Backends.runtime(Device.CPU).resetPeakMemory();
            Tensor loss = m.loss(ids, targets);
            Autograd.backward(loss, null, null, Autograd.Free.GRADIENTS_AND_ACTIVATIONS, loss);
            lastLoss = loss.item();
            return Backends.runtime(Device.CPU).peakMemoryBytes() - before;
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
