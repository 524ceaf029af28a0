package fulgur.ops.gradnorm;

import fulgur.backend.cpu.CpuOptim;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.util.List;

/** The CPU's {@link SquaredNormKernels}: {@link CpuOptim#sumOfSquares}, one tensor after another. */
public final class SquaredNormCpu implements SquaredNormKernels {
    public static final SquaredNormCpu INSTANCE = new SquaredNormCpu();

    private SquaredNormCpu() {}

    @Override
    public Tensor sumOfSquares(List<Tensor> tensors) {
        double sum = 0;
        for (Tensor t : tensors) {
            sum += CpuOptim.sumOfSquares(t);
        }
        return Tensor.full(DType.F64, tensors.get(0).device(), sum);
    }
}
