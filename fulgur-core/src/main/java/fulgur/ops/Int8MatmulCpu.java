package fulgur.ops;

import fulgur.backend.cpu.CpuInt8;
import fulgur.tensor.Tensor;

/** The CPU's {@link Int8MatmulKernels}: {@link CpuInt8}'s Vector API kernel. */
public final class Int8MatmulCpu implements Int8MatmulKernels {
    public static final Int8MatmulCpu INSTANCE = new Int8MatmulCpu();

    private Int8MatmulCpu() {}

    @Override
    public Tensor matmul(Tensor x, Tensor q, Tensor scale) {
        return CpuInt8.matmul(x, q, scale);
    }
}
