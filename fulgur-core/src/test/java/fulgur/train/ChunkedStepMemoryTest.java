package fulgur.train;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.Autograd;
import fulgur.backend.Backends;
import fulgur.backend.DeviceRuntime;
import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.models.LmTestKit;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import org.junit.jupiter.api.Test;

/**
 * The peak memory of a step, as the host allocator counts it: a chunked step's does not grow with the sequence beyond
 * the boundary states it keeps (a few KiB per chunk), while the whole-sequence step's grows with every token.
 */
class ChunkedStepMemoryTest {
    static final int VOCAB = 64;
    static final int CHUNK = 32;

    @Test
    void peakOfAChunkedStepDoesNotGrowWithTheSequence() {
        Architecture tnl = Architectures.byName("tnl");
        try (Scope s = Scope.open();
                LanguageModel m = tnl.build(tnl.smallConfig(VOCAB, 64, 2, 2), 1)) {
            DeviceRuntime cpu = Backends.runtime(Device.CPU);
            int shortLen = 4 * CHUNK;
            int longLen = 16 * CHUNK;
            peak(
                    cpu, m, shortLen,
                    true); // warm-up: optimizer-free, but parameters' gradient buffers exist from here on
            long chunkedShort = peak(cpu, m, shortLen, true);
            long chunkedLong = peak(cpu, m, longLen, true);
            long wholeShort = peak(cpu, m, shortLen, false);
            long wholeLong = peak(cpu, m, longLen, false);
            // per extra chunk: its boundary states (2 layers × [1, 2, 32, 32] f32 = 16 KiB) and its share of the
            // weights
            long boundaries = (longLen - shortLen) / CHUNK * 2L * 2 * 32 * 32 * 4;
            // per extra token: the ids and targets (i32) and the counted-target mask (f64), in the caller's and the
            // step's scope
            long perToken = (longLen - shortLen) * 32L;
            assertThat(chunkedLong - chunkedShort)
                    .as("growth of the chunked step's peak (short %d, long %d bytes)", chunkedShort, chunkedLong)
                    .isLessThanOrEqualTo(boundaries + perToken + 64 * 1024);
            assertThat(wholeLong - wholeShort)
                    .as("growth of the whole-sequence step's peak")
                    .isGreaterThan(20 * (chunkedLong - chunkedShort));
            assertThat(chunkedLong)
                    .as("chunked peak against the whole-sequence peak at %d tokens", longLen)
                    .isLessThan(wholeLong / 3);
        }
    }

    /** Peak bytes the allocator held above what was held before, for one forward and backward of T tokens. */
    static long peak(DeviceRuntime cpu, LanguageModel m, int t, boolean chunked) {
        try (Scope step = Scope.open("step")) {
            Tensor ids = LmTestKit.randomIds(t, 1, t, VOCAB);
            Tensor targets = LmTestKit.randomIds(t + 1, 1, t, VOCAB).reshape(-1);
            long before = fulgur.tensor.HostAllocator.bytesInUse();
            cpu.resetPeakMemory();
            if (chunked) {
                new ChunkedStep(m, CHUNK).run(ids, targets, 1.0);
            } else {
                Tensor loss = m.loss(ids, targets);
                Autograd.backward(loss, null, null, Autograd.Free.GRADIENTS_AND_ACTIVATIONS, loss);
            }
            return cpu.peakMemoryBytes() - before;
        }
    }
}
