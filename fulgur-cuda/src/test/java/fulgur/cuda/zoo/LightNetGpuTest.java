package fulgur.cuda.zoo;

import static fulgur.cuda.BackendCheck.GPU;
import static fulgur.cuda.BackendCheck.dev;
import static fulgur.cuda.BackendCheck.gpu;
import static fulgur.cuda.BackendCheck.randn;
import static fulgur.cuda.BackendCheck.relErr;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.ops.lightnet.LightNet;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * LightNet on the GPU in f32 ({@link LightNet#apply} takes the CUDA kernels' exact f32 path): it must match the CPU
 * kernel in output, final state and every gradient (initial state included). The bf16 path and the composed form on
 * CUDA: {@code CudaLightNetGpuTest}.
 */
@Tag("gpu")
class LightNetGpuTest {

    @Test
    void gpuMatchesTheCpuKernel() {
        gpu();
        try (Scope s = Scope.open("lightnet-gpu")) {
            int b = 2, t = 77, h = 3, dk = 16, dv = 24;
            Tensor[] cpu = {
                randn(1, DType.F32, b, t, h, dk),
                randn(2, DType.F32, b, t, h, dk).mul(3.0),
                randn(3, DType.F32, b, t, h, dv),
                randn(4, DType.F32, b, h, dk, dv),
                randn(5, DType.F32, b, h, dk)
            };
            Tensor[] gpuIn = new Tensor[cpu.length];
            for (int i = 0; i < cpu.length; i++) {
                cpu[i].requiresGrad(true);
                gpuIn[i] = dev(cpu[i].detach()).requiresGrad(true);
            }
            LightNet.Result c = LightNet.apply(cpu[0], cpu[1], cpu[2], new LightNet.State(cpu[3], cpu[4]), true);
            LightNet.Result g =
                    LightNet.apply(gpuIn[0], gpuIn[1], gpuIn[2], new LightNet.State(gpuIn[3], gpuIn[4]), true);
            assertThat(g.output().device()).isEqualTo(GPU);
            assertThat(relErr(g.output().toDoubleArray(), c.output().toDoubleArray()))
                    .as("output")
                    .isLessThan(1e-5);
            assertThat(relErr(
                            g.finalState().s().toDoubleArray(),
                            c.finalState().s().toDoubleArray()))
                    .as("final S")
                    .isLessThan(1e-5);
            Tensor w = randn(6, DType.F32, b, t, h, dv);
            c.output().mul(w).sum().add(c.finalState().z().sum()).backward();
            g.output().mul(dev(w)).sum().add(g.finalState().z().sum()).backward();
            for (int i = 0; i < cpu.length; i++) {
                assertThat(relErr(gpuIn[i].grad().toDoubleArray(), cpu[i].grad().toDoubleArray()))
                        .as("gradient of input %d", i)
                        .isLessThan(1e-4);
            }
        }
    }
}
