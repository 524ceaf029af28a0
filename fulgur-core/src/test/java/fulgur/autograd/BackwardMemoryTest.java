package fulgur.autograd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.autograd.Autograd.Free;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.tensor.DType;
import fulgur.tensor.HostAllocator;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The backward frees gradient intermediates (and, when asked, activations) as soon as nothing reads them again. */
class BackwardMemoryTest {

    private record Pass(long peakBytes, Map<String, float[]> grads) {}

    /** One TNL training step's backward: host bytes at its peak above what was in use when it began, and the gradients. */
    private static Pass backward(TnlModel m, Free free) {
        m.zeroGrad();
        Rng r = new Rng(21);
        int b = 2;
        int t = 96;
        int[] ids = new int[b * t];
        int[] targets = new int[b * t];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.nextInt(64);
            targets[i] = r.nextInt(64);
        }
        long peak;
        try (Scope step = Scope.open("step")) {
            Tensor loss = m.loss(Tensor.ofInts(ids, b, t), Tensor.ofInts(targets, b * t));
            long base = HostAllocator.bytesInUse();
            HostAllocator.resetPeak();
            Autograd.backward(loss, null, null, free);
            peak = HostAllocator.peakBytesInUse() - base;
        }
        Map<String, float[]> grads = new LinkedHashMap<>();
        m.namedParameters().forEach((n, p) -> grads.put(n, p.value().grad().toFloatArray()));
        return new Pass(peak, grads);
    }

    @Test
    void tnlBackwardPeaksLowerWithBitIdenticalGradients() {
        TnlConfig c = TnlConfig.small(64, 64, 2, 4).withLrpe(List.of(1, 0));
        try (Scope s = Scope.open(); TnlModel m = new TnlModel(c, 5)) {
            backward(m, Free.GRADIENTS); // warm the allocator's cache so that every pass sees the same state
            Pass kept = backward(m, Free.NOTHING);
            Pass freed = backward(m, Free.GRADIENTS);
            System.out.printf("TNL (dim 64, 2 layers, B=2, T=96) backward peak above its start: keep all %d bytes, free gradients %d bytes%n",
                    kept.peakBytes(), freed.peakBytes());
            assertThat(freed.peakBytes()).isLessThan(kept.peakBytes());
            assertSameGradients(freed, kept);
        }
    }

    private static void assertSameGradients(Pass a, Pass b) {
        assertThat(a.grads().keySet()).containsExactlyElementsOf(b.grads().keySet());
        a.grads().forEach((n, g) -> assertThat(g).as(n).containsExactly(b.grads().get(n)));
    }

    @Test
    void releasedTensorsFailWithAClearMessage() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.ones(3);
            Tensor v = x.narrow(0, 1, 2);
            s.release(x);
            assertThat(s.owns(x.storage())).isFalse();
            assertThatThrownBy(() -> v.add(v)).hasMessageContaining("use of a freed tensor");
            assertThatThrownBy(() -> s.release(x)).hasMessageContaining("does not belong to");
        }
    }

    @Test
    void keepsWhatItDidNotMakeAndGradientsPassedThroughToSeveralInputs() {
        try (Scope s = Scope.open()) {
            Tensor saved = Tensor.of(new float[] {5, 6}, 2);
            Tensor x = new Rng(1).normal(DType.F32, 0, 1, 2).requiresGrad(true);
            // A backward that hands back a tensor made in the forward, and one that passes g to both of its inputs.
            Tensor y = Autograd.record("returnsSaved", x.mul(1.0).detach(), new Tensor[] {x}, g -> new Tensor[] {saved});
            Tensor z = Autograd.record("passThrough", y.add(y).detach(), new Tensor[] {y, y}, g -> new Tensor[] {g, g});
            Tensor seed = Tensor.of(new float[] {1, 2}, 2);
            Autograd.backward(z, seed, null, Free.GRADIENTS);
            assertThat(x.grad().toFloatArray()).containsExactly(5, 6);
            assertThat(saved.toFloatArray()).containsExactly(5, 6);
            assertThat(seed.toFloatArray()).containsExactly(1, 2);
        }
    }
}
