package fulgur.cuda.ops.loss;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.backend.CudaNn;
import fulgur.cuda.backend.Gpu;
import fulgur.cuda.ops.KernelChoice;
import fulgur.ops.CrossEntropyKernels;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The CUDA {@link CrossEntropyKernels} (registered by {@link fulgur.cuda.CudaKernelProvider}): {@code nn_ce_fused_bf16}
 * reads each row of bf16 logits from device memory once and writes its gradient once
 * ({@link CudaNn#crossEntropyWithGradient}); rows of a multiple of 8 columns.
 */
public final class CudaCrossEntropy implements CrossEntropyKernels {
    private final Gpu g;

    public CudaCrossEntropy(Gpu g) {
        this.g = g;
    }

    public static CudaCrossEntropy on(Device device) {
        return new CudaCrossEntropy(CudaBackend.of(device).gpu());
    }

    @Override
    public boolean supports(Tensor logits) {
        boolean ok = CudaNn.fusedCrossEntropy(g, logits);
        return KernelChoice.note(
                "cross-entropy with gradient",
                ok,
                ok ? "one pass (bf16)" : "two kernels (" + logits.dtype() + ", " + logits.size(-1) + " columns)");
    }

    @Override
    public Tensor[] lossAndGradient(Tensor logits, Tensor targets, int ignoreIndex, double smoothing, Tensor gradOut) {
        return CudaNn.crossEntropyWithGradient(g, logits, targets, ignoreIndex, smoothing, gradOut);
    }
}
