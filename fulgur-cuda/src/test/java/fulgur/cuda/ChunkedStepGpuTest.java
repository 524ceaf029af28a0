package fulgur.cuda;

import static fulgur.cuda.BackendCheck.GPU;
import static fulgur.cuda.BackendCheck.gpu;
import static fulgur.cuda.BackendCheck.ints;
import static fulgur.cuda.BackendCheck.relErr;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.Autograd;
import fulgur.backend.Backends;
import fulgur.backend.DeviceRuntime;
import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.nn.Parameter;
import fulgur.optim.AdamW;
import fulgur.optim.ParamGroup;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.train.ChunkedStep;
import fulgur.train.MixedPrecision;
import fulgur.train.TrainStep;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A sequence walked in chunks on the GPU (boundary states kept in host memory): the loss and gradients of one pass over
 * the whole sequence for every architecture, and a peak of device memory that does not grow with the sequence.
 */
@Tag("gpu")
class ChunkedStepGpuTest {
    static final int VOCAB = 64;

    @Test
    void everyArchitectureMatchesTheWholeSequenceOnTheGpu() {
        gpu();
        for (Architecture a : Architectures.all()) {
            try (Scope s = Scope.open(a.name());
                    LanguageModel m = a.build(a.smallConfig(VOCAB, 32, 2, 2), 3)) {
                m.module().to(GPU);
                Tensor ids = ints(11, DType.I32, VOCAB, 2, 48).to(GPU);
                Tensor targets = ints(12, DType.I32, VOCAB, 2 * 48).to(GPU);
                Tensor loss = m.loss(ids, targets);
                Autograd.backward(loss, null);
                double expected = loss.item();
                Map<String, double[]> whole = grads(m);
                m.module().zeroGrad();
                double got =
                        new ChunkedStep(m, 20).run(ids, targets, 1.0).loss().item();
                double worst = 0;
                for (Map.Entry<String, double[]> e : grads(m).entrySet()) {
                    worst = Math.max(worst, relErr(e.getValue(), whole.get(e.getKey())));
                }
                System.out.printf(
                        "%s: loss whole %.7f chunked %.7f, worst gradient rel err %.2e%n",
                        a.name(), expected, got, worst);
                assertThat(Math.abs(got - expected) / expected)
                        .as(a.name() + " loss")
                        .isLessThan(1e-5);
                assertThat(worst).as(a.name() + " worst gradient").isLessThan(1e-4);
            }
        }
    }

    /**
     * The trainer's step in bf16 with f32 masters (the benchmark's configuration), walking 3 chunks against one pass, from
     * the same weights: the loss and the gradient norm agree to bf16 rounding (a few ulps of 2⁻⁸ over the layers).
     */
    @Test
    void bf16TrainStepInChunksMatchesTheWholeSequenceStep() {
        gpu();
        Architecture tnl = Architectures.byName("tnl");
        String config = tnl.smallConfig(VOCAB, 64, 2, 2);
        fulgur.data.Batch batch = new fulgur.data.Batch(
                1,
                96,
                ints(21, DType.I32, VOCAB, 96).toIntArray(),
                ints(22, DType.I32, VOCAB, 96).toIntArray());
        TrainStep.Outcome[] out = new TrainStep.Outcome[2];
        for (int chunk : new int[] {0, 40}) {
            try (Scope s = Scope.open("bf16 " + chunk);
                    LanguageModel m = tnl.build(config, 5)) {
                m.module().to(GPU);
                MixedPrecision mp = MixedPrecision.bf16(m.module());
                AdamW opt =
                        new AdamW(mp.masterGroups(ParamGroup.decayAndNoDecay(m.module(), 0.1)), 1e-3, 0.9, 0.95, 1e-8);
                try (TrainStep step = new TrainStep(m, mp, opt, 1.0, 1, false, chunk)) {
                    out[chunk == 0 ? 0 : 1] = step.run(java.util.List.of(batch), 1e-3);
                }
            }
        }
        System.out.printf(
                "bf16 step: loss whole %.5f chunked %.5f, gradient norm whole %.5f chunked %.5f%n",
                out[0].loss(), out[1].loss(), out[0].gradNorm(), out[1].gradNorm());
        assertThat(Math.abs(out[1].loss() - out[0].loss()) / out[0].loss())
                .as("bf16 loss")
                .isLessThan(1e-2);
        assertThat(Math.abs(out[1].gradNorm() - out[0].gradNorm()) / out[0].gradNorm())
                .as("bf16 gradient norm")
                .isLessThan(3e-2);
    }

    @Test
    void peakDeviceMemoryOfAChunkedStepDoesNotGrowWithTheSequence() {
        gpu();
        Architecture tnl = Architectures.byName("tnl");
        DeviceRuntime rt = Backends.runtime(GPU);
        int chunk = 512;
        try (Scope s = Scope.open("memory");
                LanguageModel m = tnl.build(tnl.smallConfig(VOCAB, 256, 2, 4), 1)) {
            m.module().to(GPU);
            peak(rt, m, 4 * chunk, chunk); // warm-up: gradient buffers, kernels
            long shortPeak = peak(rt, m, 4 * chunk, chunk);
            long longPeak = peak(rt, m, 32 * chunk, chunk);
            long wholeShort = peak(rt, m, 4 * chunk, 0);
            long wholeLong = peak(rt, m, 16 * chunk, 0);
            System.out.printf(
                    "peak device bytes: chunked %,d at %d tokens, %,d at %d; whole %,d at %d, %,d at %d%n",
                    shortPeak, 4 * chunk, longPeak, 32 * chunk, wholeShort, 4 * chunk, wholeLong, 16 * chunk);
            // the ids, targets and counted-target mask of the longer sequence (about 20 bytes a token) and allocator
            // rounding
            assertThat(longPeak - shortPeak)
                    .as("growth of the chunked peak from %d to %d tokens", 4 * chunk, 32 * chunk)
                    .isLessThan(28L * chunk * 24 + (4 << 20));
            assertThat(wholeLong - wholeShort)
                    .as("growth of the whole-sequence peak")
                    .isGreaterThan(10 * Math.max(1, longPeak - shortPeak));
        }
    }

    static long peak(DeviceRuntime rt, LanguageModel m, int t, int chunk) {
        try (Scope step = Scope.open("step")) {
            Tensor ids = ints(t, DType.I32, VOCAB, 1, t).to(GPU);
            Tensor targets = ints(t + 1, DType.I32, VOCAB, t).to(GPU);
            rt.synchronize();
            rt.resetPeakMemory();
            long before = rt.peakMemoryBytes();
            if (chunk > 0) {
                new ChunkedStep(m, chunk).run(ids, targets, 1.0);
            } else {
                Tensor loss = m.loss(ids, targets);
                Autograd.backward(loss, null, null, Autograd.Free.GRADIENTS_AND_ACTIVATIONS, loss);
            }
            rt.synchronize();
            return rt.peakMemoryBytes() - before;
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
