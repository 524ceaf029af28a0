package fulgur.cuda.ops.adamw;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.backend.CudaIndexing;
import fulgur.cuda.backend.Gpu;
import fulgur.ops.adamw.AdamWKernels;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import java.util.List;

/** The CUDA {@link AdamWKernels}: every f32 parameter in one multi-tensor launch, the others one kernel each (tensor.cu). */
public final class CudaAdamW implements AdamWKernels {
    private final Gpu g;

    public CudaAdamW(Gpu g) {
        this.g = g;
    }

    public static CudaAdamW on(Device device) {
        return new CudaAdamW(CudaBackend.of(device).gpu());
    }

    @Override
    public void update(List<Slot> slots, Tensor schedule, double beta1, double beta2, double eps) {
        CudaIndexing.adamwAll(g, slots, schedule, beta1, beta2, eps);
    }
}
