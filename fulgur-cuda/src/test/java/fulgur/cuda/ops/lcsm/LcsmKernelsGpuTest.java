package fulgur.cuda.ops.lcsm;

import static fulgur.cuda.ops.ZooCheck.dev;
import static fulgur.cuda.ops.ZooCheck.signed;
import static fulgur.cuda.ops.ZooCheck.uniform;

import fulgur.cuda.ops.DeviceTensors;
import fulgur.cuda.ops.ZooCheck;
import fulgur.ops.Views;
import fulgur.ops.lcsm.Lcsm;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The LCSM scan on the GPU ({@link LcsmLauncher}) against fulgur's token-by-token {@code Lcsm.recurrent} in f64 with
 * autograd: y, m_T and every gradient (unreduced over the broadcast axes, so the reference takes full-shape inputs
 * while the GPU reads the same values through stride-0 views).
 */
@Tag("gpu")
class LcsmKernelsGpuTest {

    @ParameterizedTest(name = "{0} B={1} T={2} k={3} d={4} m0={5}")
    @CsvSource({
        "f32, 2, 200, 8, 96, true",
        "f32, 1, 1, 3, 40, false",
        "f32, 3, 63, 20, 33, true",
        "bf16, 2, 130, 8, 64, true",
        // many chunks of 64 tokens (the last partial), one warp per 32 channels (k <= 4), 8 entries per thread (k > 32)
        "bf16, 1, 1000, 4, 48, false",
        "f32, 2, 150, 40, 24, true",
    })
    void matchesTheF64Recurrence(String dts, int B, int T, int k, int d, boolean withM0) {
        DeviceTensors dv = ZooCheck.gpu();
        LcsmLauncher lk = new LcsmLauncher(dv);
        DType dt = dts.equals("f32") ? DType.F32 : DType.BF16;
        try (Scope s = Scope.open("lcsm")) {
            Tensor i = signed(41 + T, dt, B, T, d);
            Tensor e1 = signed(42, dt, B, T, k, 1), s1 = signed(43, dt, B, T, k, 1);
            Tensor lo = uniform(44, dt, -1.5, -0.01, B, T, k, d);
            Tensor m0 = withM0 ? signed(45, dt, B, k, d) : null;
            Tensor dy = signed(46, dt, B, T, d), dmT = signed(47, dt, B, k, d);
            Tensor[] x = {
                i.to(DType.F64),
                Views.contiguous(Views.expand(e1.to(DType.F64), B, T, k, d)),
                lo.to(DType.F64),
                Views.contiguous(Views.expand(s1.to(DType.F64), B, T, k, d)),
                withM0 ? m0.to(DType.F64) : null
            };
            for (Tensor t : x) if (t != null) t.requiresGrad(true);
            Lcsm.Result r = Lcsm.recurrent(x[0], x[1], x[2], x[3], x[4]);
            r.output()
                    .mul(dy.to(DType.F64))
                    .sum()
                    .add(r.finalState().mul(dmT.to(DType.F64)).sum())
                    .backward();

            Tensor eg = Views.expand(dev(e1), B, T, k, d), sg = Views.expand(dev(s1), B, T, k, d);
            LcsmLauncher.Output out = lk.forward(dev(i), eg, dev(lo), sg, withM0 ? dev(m0) : null);
            LcsmLauncher.Gradients gr =
                    lk.backward(dev(i), eg, dev(lo), sg, withM0 ? dev(m0) : null, dev(dy), dev(dmT));
            double tol = dt == DType.F32 ? 1e-5 : 1e-2;
            ZooCheck.Report rep =
                    new ZooCheck.Report(String.format("lcsm %s B=%d T=%d k=%d d=%d m0=%b", dts, B, T, k, d, withM0));
            rep.check("y", out.y(), r.output().toDoubleArray(), tol)
                    .check("m_T", out.finalState(), r.finalState().toDoubleArray(), tol)
                    .check("di", gr.di(), x[0].grad().toDoubleArray(), tol)
                    .check("de", gr.de(), x[1].grad().toDoubleArray(), tol)
                    .check("dlogO", gr.dlogO(), x[2].grad().toDoubleArray(), tol)
                    .check("ds", gr.ds(), x[3].grad().toDoubleArray(), tol);
            if (withM0) rep.check("dm0", gr.dm0(), x[4].grad().toDoubleArray(), tol);
            rep.verify();
        }
    }
}
