package fulgur.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.ops.LinearAlgebra;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Explicit lifetimes: what a scope frees, what keep/adopt move out, and where leaf gradients live. */
class ScopeLifetimeTest {
    static final int MIB = 1 << 20;

    @Test
    void closingAScopeFreesItsTensors() {
        long before = HostAllocator.bytesInUse();
        Tensor t;
        try (Scope s = Scope.open("work")) {
            t = Tensor.zeros(DType.F32, MIB / 4); // 1 MiB
            Tensor u = t.add(1.0).mul(t); // temporaries of the same size
            assertThat(HostAllocator.bytesInUse()).isGreaterThanOrEqualTo(before + 3L * MIB);
            assertThat(s.ownedCount()).isGreaterThanOrEqualTo(3);
            assertThat(s.ownedBytes()).isGreaterThanOrEqualTo(3L * MIB);
            assertThat(u.storage().owner()).isSameAs(s);
        }
        assertThat(HostAllocator.bytesInUse()).isEqualTo(before);
        assertThat(t.storage().isReleased()).isTrue();
        assertThatThrownBy(t::sum).hasMessageContaining("freed");
    }

    @Test
    void aScopeClosedByAnExceptionStillFrees() {
        long before = HostAllocator.bytesInUse();
        assertThatThrownBy(() -> {
                    try (Scope s = Scope.open("failing")) {
                        Tensor.zeros(DType.F64, 1000);
                        throw new IllegalStateException("boom");
                    }
                })
                .hasMessage("boom");
        assertThat(HostAllocator.bytesInUse()).isEqualTo(before);
        assertThat(Scope.current()).isSameAs(Scope.root());
    }

    @Test
    void nestedScopesFreeInnermostFirst() {
        long before = HostAllocator.bytesInUse();
        try (Scope outer = Scope.open("outer")) {
            Tensor a = Tensor.ones(100);
            Tensor b;
            try (Scope inner = Scope.open("inner")) {
                assertThat(Scope.current()).isSameAs(inner);
                b = a.mul(2.0);
                assertThat(b.storage().owner()).isSameAs(inner);
            }
            assertThat(Scope.current()).isSameAs(outer);
            assertThat(b.storage().isReleased()).isTrue();
            assertThat(a.storage().isReleased()).isFalse();
            assertThat(a.sum().item()).isEqualTo(100);
        }
        assertThat(HostAllocator.bytesInUse()).isEqualTo(before);
    }

    @Test
    void keepMovesATensorToTheParentScope() {
        long before = HostAllocator.bytesInUse();
        try (Scope outer = Scope.open("outer")) {
            Tensor kept;
            Tensor view;
            Tensor dropped;
            try (Scope inner = Scope.open("inner")) {
                kept = inner.keep(Tensor.full(DType.F32, 3, 5));
                Tensor both = Tensor.full(DType.F32, 4, 6);
                view = both.narrow(0, 1, 3);
                inner.keep(view, Tensor.ones(2)); // keeping a view keeps its storage
                dropped = Tensor.ones(7);
            }
            assertThat(kept.storage().owner()).isSameAs(outer);
            assertThat(kept.toDoubleArray()).containsExactly(3, 3, 3, 3, 3);
            assertThat(view.toDoubleArray()).containsExactly(4, 4, 4);
            assertThat(dropped.storage().isReleased()).isTrue();
            assertThat(HostAllocator.bytesInUse()).isGreaterThan(before);
        }
        assertThat(HostAllocator.bytesInUse()).isEqualTo(before);
    }

    @Test
    void adoptAndRunPlaceTensorsInADetachedScope() {
        long before = HostAllocator.bytesInUse();
        Scope params = Scope.detached("params");
        Tensor w;
        Tensor b;
        try (Scope step = Scope.open("step")) {
            w = params.adopt(Tensor.ones(4, 4));
            b = params.run(() -> Tensor.zeros(4));
            assertThat(Scope.current()).isSameAs(step);
        }
        assertThat(w.storage().isReleased()).isFalse();
        assertThat(b.storage().owner()).isSameAs(params);
        try (Scope check = Scope.open("check")) { // outside any scope, the sum would live in the root scope for good
            assertThat(w.sum().item()).isEqualTo(16);
        }
        params.close();
        params.close(); // twice is a no-op
        assertThat(w.storage().isReleased()).isTrue();
        assertThat(HostAllocator.bytesInUse()).isEqualTo(before);
        assertThatThrownBy(() -> params.run(() -> Tensor.ones(1)))
                .hasMessageContaining("closed scope")
                .hasMessageContaining("params");
    }

    @Test
    void leafGradientsLiveInTheLeafsScopeAndSurviveTheStep() {
        Scope params = Scope.detached("params");
        try {
            Tensor w =
                    params.run(() -> Tensor.of(new double[] {1, 2, 3, 4}, 2, 2)).requiresGrad(true);
            Tensor x = params.run(() -> Tensor.of(new double[] {1, -1}, 1, 2));
            long before = HostAllocator.bytesInUse();
            for (int step = 1; step <= 2; step++) {
                try (Scope s = Scope.open("step")) {
                    LinearAlgebra.linear(x, w, null).sum().backward();
                }
                // grad of Σ x·wᵀ with respect to w: every row equals x; accumulated over steps
                assertThat(w.grad().storage().owner()).isSameAs(params);
                assertThat(w.grad().toDoubleArray()).containsExactly(step, -step, step, -step);
            }
            assertThat(HostAllocator.bytesInUse())
                    .as("only the gradient buffer remains")
                    .isEqualTo(before + HostAllocator.sizeClass(32));
        } finally {
            params.close();
        }
    }

    @Test
    void leafGradientOfATensorInAnOuterScope() {
        try (Scope outer = Scope.open("outer")) {
            Tensor x = Tensor.of(new double[] {2}, 1).requiresGrad(true);
            try (Scope inner = Scope.open("inner")) {
                x.mul(x).sum().backward();
            }
            assertThat(x.grad().storage().owner()).isSameAs(outer);
            assertThat(x.grad().item()).isEqualTo(4);
        }
    }

    @Test
    void closingATensorEarlyIsCountedOnce() {
        long before = HostAllocator.bytesInUse();
        try (Scope s = Scope.open("early")) {
            Tensor t = Tensor.zeros(DType.F32, MIB / 4);
            long mid = HostAllocator.bytesInUse();
            t.close();
            assertThat(HostAllocator.bytesInUse()).isEqualTo(mid - MIB);
        }
        assertThat(HostAllocator.bytesInUse()).isEqualTo(before);
    }

    @Test
    void freedBlocksAreCachedAndTrimmed() {
        try (Scope s = Scope.open("cache")) {
            Tensor.zeros(DType.F32, 3 * MIB / 4 + 5);
        }
        assertThat(HostAllocator.bytesCached()).isGreaterThanOrEqualTo(3L * MIB);
        HostAllocator.trim();
        assertThat(HostAllocator.bytesCached()).isZero();
        try (Scope s = Scope.open("after trim")) {
            assertThat(Tensor.full(DType.F32, 2, 10).sum().item()).isEqualTo(20);
        }
    }

    @Test
    void sizeClassesCoverTheRequest() {
        for (long bytes : new long[] {1, 4095, 4096, 4097, 1 << 20, (1 << 20) + 1, 3_000_000, 123_456_789}) {
            long c = HostAllocator.sizeClass(bytes);
            assertThat(c)
                    .as("class of %d", bytes)
                    .isGreaterThanOrEqualTo(bytes)
                    .isLessThanOrEqualTo(bytes + bytes / 8 + 4096);
        }
    }

    @Test
    void scopesArePerThread() throws Exception {
        try (Scope mine = Scope.open("mine")) {
            AtomicReference<Scope> seen = new AtomicReference<>();
            Thread t = new Thread(() -> seen.set(Scope.current()));
            t.start();
            t.join();
            assertThat(seen.get()).isSameAs(Scope.root());
            assertThat(Scope.current()).isSameAs(mine);
        }
    }

    @Test
    void theRootScopeCannotBeClosed() {
        assertThatThrownBy(() -> Scope.root().close()).hasMessageContaining("root");
    }
}
