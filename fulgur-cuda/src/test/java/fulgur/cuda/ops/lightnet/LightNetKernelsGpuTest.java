package fulgur.cuda.ops.lightnet;

import static fulgur.cuda.ops.ZooCheck.dev;
import static fulgur.cuda.ops.ZooCheck.signed;
import static fulgur.cuda.ops.ZooCheck.uniform;

import fulgur.cuda.ops.DeviceTensors;
import fulgur.cuda.ops.ZooCheck;
import fulgur.cuda.ops.gla.GlaLauncher;
import fulgur.ops.lightnet.LightNet;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * LightNet on the GPU ({@link LightNetLauncher}: the log-cum-sum-exp scan, GLA, and the scan's chain rule) against
 * fulgur's recurrent LightNet in f64 on the CPU with autograd: output, final state (s, z), dq, dk, dv, ds0, dz0.
 */
@Tag("gpu")
class LightNetKernelsGpuTest {

    @ParameterizedTest(name = "{0} B={1} T={2} H={3} K={4} V={5} seg={6} state={7}")
    @CsvSource({
        "bf16, 2, 200, 2, 128, 128, 0, true",
        "bf16, 1, 130, 2, 64, 64, 64, false",
        "f32, 1, 63, 2, 32, 48, 0, true",
        "f32, 2, 1, 1, 16, 8, 0, true",
    })
    void matchesTheF64Recurrence(String dts, int B, int T, int H, int K, int V, int seg, boolean withState) {
        DeviceTensors d = ZooCheck.gpu();
        LightNetLauncher ln = new LightNetLauncher(d);
        ln.gla().segmentLength(seg);
        DType dt = dts.equals("f32") ? DType.F32 : DType.BF16;
        long seed = 31L * T + K + V;
        try (Scope s = Scope.open("lightnet")) {
            Tensor q = signed(seed, dt, B, T, H, K),
                    k = uniform(seed + 1, dt, -2, 2, B, T, H, K),
                    v = signed(seed + 2, dt, B, T, H, V);
            Tensor dO = signed(seed + 3, dt, B, T, H, V);
            Tensor s0 = withState ? signed(seed + 4, DType.F32, B, H, K, V) : null;
            Tensor z0 = withState ? uniform(seed + 5, DType.F32, 0.5, 3, B, H, K) : null;
            Tensor dS = signed(seed + 6, DType.F32, B, H, K, V), dZ = signed(seed + 7, DType.F32, B, H, K);

            Tensor[] x = {
                q.to(DType.F64),
                k.to(DType.F64),
                v.to(DType.F64),
                withState ? s0.to(DType.F64) : null,
                withState ? z0.to(DType.F64) : null
            };
            for (Tensor t : x) if (t != null) t.requiresGrad(true);
            LightNet.Result r =
                    LightNet.recurrent(x[0], x[1], x[2], withState ? new LightNet.State(x[3], x[4]) : null, true);
            r.output()
                    .mul(dO.to(DType.F64))
                    .sum()
                    .add(r.finalState().s().mul(dS.to(DType.F64)).sum())
                    .add(r.finalState().z().mul(dZ.to(DType.F64)).sum())
                    .backward();

            double tol = dt == DType.F32 ? 1e-5 : 1e-2;
            LightNetLauncher.Output out = ln.forward(
                    dev(q), dev(k), dev(v), withState ? dev(s0) : null, withState ? dev(z0) : null, 1.0, true, null);
            LightNetLauncher.Gradients gr = ln.backward(
                    dev(q),
                    dev(k),
                    dev(v),
                    withState ? dev(s0) : null,
                    withState ? dev(z0) : null,
                    1.0,
                    null,
                    dev(dO),
                    dev(dS),
                    dev(dZ));
            String path = GlaLauncher.tensorCores(dt, K, V) ? "tensor cores" : "exact f32 kernels";
            ZooCheck.Report rep = new ZooCheck.Report(String.format(
                    "lightnet %s %s B=%d T=%d H=%d K=%d V=%d seg=%d state=%b",
                    path, dts, B, T, H, K, V, seg, withState));
            rep.check("o", out.output(), r.output().toDoubleArray(), tol)
                    .check("final s", out.finalS(), r.finalState().s().toDoubleArray(), tol)
                    .check("final z", out.finalZ(), r.finalState().z().toDoubleArray(), 1e-5)
                    .check("dq", gr.dq(), x[0].grad().toDoubleArray(), tol)
                    .check("dk", gr.dk(), x[1].grad().toDoubleArray(), tol)
                    .check("dv", gr.dv(), x[2].grad().toDoubleArray(), tol);
            if (withState)
                rep.check("ds0", gr.ds0(), x[3].grad().toDoubleArray(), tol)
                        .check("dz0", gr.dz0(), x[4].grad().toDoubleArray(), tol);
            rep.verify();
        }
    }
}
