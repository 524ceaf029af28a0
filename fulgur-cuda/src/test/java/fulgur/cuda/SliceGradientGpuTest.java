package fulgur.cuda;

import static fulgur.cuda.BackendCheck.assertClose;
import static fulgur.cuda.BackendCheck.cpu;
import static fulgur.cuda.BackendCheck.dev;
import static fulgur.cuda.BackendCheck.gpu;
import static fulgur.cuda.BackendCheck.randn;
import static fulgur.cuda.BackendCheck.tol;

import fulgur.backend.Backends;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The autograd engine's gradient accumulation on the GPU: Backend.addInto (in place into a contiguous tensor, through
 * a temporary into a slice) and the slice gradients of chunk/narrow, against the CPU. Allocations are poisoned with
 * NaN, so a part of the slice buffer left unwritten shows.
 */
@Tag("gpu")
class SliceGradientGpuTest {

    @Test
    void addIntoMatchesTheCpuInPlaceAndIntoASlice() {
        gpu();
        try (Scope s = Scope.open()) {
            for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F64}) {
                Tensor base = randn(1, dt, 3, 8, 12);
                Tensor add = randn(2, dt, 3, 8, 12);
                Tensor cpuDst = base.copy();
                cpu().addInto(cpuDst, add);
                Tensor gpuDst = dev(base);
                Backends.of(gpuDst).addInto(gpuDst, dev(add));
                assertClose(dt + " contiguous", gpuDst, cpuDst, dt == DType.BF16 ? tol(dt) : 0);

                Tensor piece = randn(3, dt, 3, 8, 4);
                Tensor cpuFull = base.copy();
                Tensor cpuSlice = cpuFull.narrow(2, 4, 4);
                cpu().addInto(cpuSlice, piece);
                Tensor gpuFull = dev(base);
                Tensor gpuSlice = gpuFull.narrow(2, 4, 4);
                Backends.of(gpuSlice).addInto(gpuSlice, dev(piece));
                assertClose(dt + " slice", gpuFull, cpuFull, dt == DType.BF16 ? tol(dt) : 0);
            }
        }
    }

    @Test
    void chunkAndOverlappingNarrowGradientsMatchTheCpu() {
        gpu();
        try (Scope s = Scope.open()) {
            Tensor x = randn(4, DType.F32, 2, 5, 16);
            Tensor[] w = new Tensor[5];
            for (int i = 0; i < 5; i++) {
                w[i] = randn(10 + i, DType.F32, 2, 5, i < 4 ? 4 : 6);
            }
            Tensor cx = x.copy().requiresGrad(true);
            Tensor gx = dev(x).requiresGrad(true);
            loss(cx, w, false).backward();
            loss(gx, w, true).backward();
            assertClose("gradient of x", gx.grad(), cx.grad(), 1e-6);
        }
    }

    /** Four chunks and a narrow over parts of two of them (columns 14 and 15 get only the chunk's gradient). */
    private static Tensor loss(Tensor x, Tensor[] w, boolean onGpu) {
        Tensor[] p = Views.chunk(x, 2, 4);
        Tensor total = null;
        for (int i = 0; i < 4; i++) {
            Tensor term = p[i].mul(onGpu ? dev(w[i]) : w[i]).sum();
            total = total == null ? term : total.add(term);
        }
        Tensor overlap = Views.narrow(x, 2, 2, 6);
        return total.add(overlap.mul(onGpu ? dev(w[4]) : w[4]).sum());
    }
}
