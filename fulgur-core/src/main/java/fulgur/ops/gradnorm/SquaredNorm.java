package fulgur.ops.gradnorm;

import fulgur.autograd.GradMode;
import fulgur.backend.Kernels;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.util.List;

/** Σ‖t‖² over a list of tensors in f64, on their device: the device's {@link SquaredNormKernels}, or composed. */
public final class SquaredNorm {
    private SquaredNorm() {}

    /**
     * The sum of the squares of every element of every tensor, accumulated in f64, tensor after tensor.
     *
     * @param tensors tensors of one device (at least one)
     * @return an f64 scalar on their device (no host read)
     * @throws IllegalArgumentException when the list is empty or the tensors lie on different devices
     */
    public static Tensor of(List<Tensor> tensors) {
        if (tensors.isEmpty()) {
            throw new IllegalArgumentException("squared norm: no tensors");
        }
        var device = tensors.get(0).device();
        for (Tensor t : tensors) {
            if (!t.device().equals(device)) {
                throw new IllegalArgumentException(
                        "squared norm: tensors on " + device + " and " + t.device() + "; they must share a device");
            }
        }
        try (var ignored = GradMode.noGrad()) {
            SquaredNormKernels kn = Kernels.find(SquaredNormKernels.class, device);
            return kn != null ? kn.sumOfSquares(tensors) : composed(tensors);
        }
    }

    /** The composed form: per tensor, a conversion to f64, a square and a sum. */
    static Tensor composed(List<Tensor> tensors) {
        Tensor sq = null;
        for (Tensor t : tensors) {
            Tensor s = t.to(DType.F64).pow(2).sum();
            sq = sq == null ? s : sq.add(s);
        }
        return sq;
    }
}
