package fulgur.cuda.ops.conv;

import static fulgur.cuda.ops.ZooCheck.dev;
import static fulgur.cuda.ops.ZooCheck.signed;

import fulgur.cuda.ops.DeviceTensors;
import fulgur.cuda.ops.ZooCheck;
import fulgur.ops.Activations;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.Arrays;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The short causal convolution on the GPU ({@link ShortConvLauncher}) against the same convolution composed from fulgur
 * ops in f64 on the CPU (autograd for the gradients): y, the final tail, dx, dweight, dbias and the initial tail's
 * gradient; f32 under 1e-5, bf16 under 1e-2.
 */
@Tag("gpu")
class ShortConvKernelsGpuTest {

    /** {y, tail, dx, dw, db, dtail0} per sequence, f64. */
    static double[][] reference(
            Tensor x, Tensor w, Tensor bias, boolean silu, Tensor tail0, Tensor dy, Tensor dTail, int[] cu) {
        int b = x.size(0), t = x.size(1), d = x.size(2), kw = w.size(1);
        int n = cu == null ? b : cu.length - 1;
        Tensor w64 = w.to(DType.F64).detach(),
                b64 = bias == null ? null : bias.to(DType.F64).detach();
        w64.requiresGrad(true);
        if (b64 != null) b64.requiresGrad(true);
        double[] y = new double[b * t * d],
                dx = new double[b * t * d],
                tail = new double[n * (kw - 1) * d],
                dt0 = new double[n * (kw - 1) * d];
        Tensor[] xs = new Tensor[n], ts = new Tensor[n];
        Tensor loss = null;
        for (int s = 0; s < n; s++) {
            int bi = cu == null ? s : 0, from = cu == null ? 0 : cu[s], len = cu == null ? t : cu[s + 1] - cu[s];
            xs[s] = Views.contiguous(Views.narrow(Views.narrow(x.to(DType.F64), 0, bi, 1), 1, from, len))
                    .detach();
            xs[s].requiresGrad(true);
            ts[s] = tail0 == null
                    ? Tensor.zeros(DType.F64, 1, kw - 1, d)
                    : Views.contiguous(Views.narrow(tail0.to(DType.F64), 0, s, 1))
                            .detach();
            if (tail0 != null) ts[s].requiresGrad(true);
            Tensor xp = Views.concat(1, ts[s], xs[s]);
            Tensor pre = null;
            for (int j = 0; j < kw; j++) {
                Tensor term = Views.narrow(xp, 1, j, len).mul(Views.select(w64, 1, j));
                pre = pre == null ? term : pre.add(term);
            }
            if (b64 != null) pre = pre.add(b64);
            Tensor ys = silu ? pre.mul(Activations.sigmoid(pre)) : pre;
            Tensor tl = Views.narrow(xp, 1, len, kw - 1);
            Tensor dys = Views.contiguous(Views.narrow(Views.narrow(dy.to(DType.F64), 0, bi, 1), 1, from, len));
            Tensor l = ys.mul(dys).sum();
            if (dTail != null)
                l = l.add(tl.mul(Views.narrow(dTail.to(DType.F64), 0, s, 1)).sum());
            loss = loss == null ? l : loss.add(l);
            System.arraycopy(ys.toDoubleArray(), 0, y, (bi * t + from) * d, len * d);
            System.arraycopy(tl.toDoubleArray(), 0, tail, s * (kw - 1) * d, (kw - 1) * d);
        }
        loss.backward();
        for (int s = 0; s < n; s++) {
            int bi = cu == null ? s : 0, from = cu == null ? 0 : cu[s], len = cu == null ? t : cu[s + 1] - cu[s];
            System.arraycopy(xs[s].grad().toDoubleArray(), 0, dx, (bi * t + from) * d, len * d);
            if (tail0 != null) System.arraycopy(ts[s].grad().toDoubleArray(), 0, dt0, s * (kw - 1) * d, (kw - 1) * d);
        }
        return new double[][] {
            y,
            tail,
            dx,
            w64.grad().toDoubleArray(),
            b64 == null ? null : b64.grad().toDoubleArray(),
            dt0
        };
    }

    @ParameterizedTest(name = "{0} B={1} T={2} D={3} W={4} silu={5} bias={6} tail={7} cu={8}")
    @CsvSource({
        "f32, 2, 200, 96, 4, true, true, true, -",
        "f32, 1, 3, 40, 4, false, false, true, -",
        "f32, 1, 150, 130, 3, true, false, true, 0;2;70;150",
        "bf16, 2, 130, 256, 4, true, false, false, -",
        "bf16, 3, 65, 64, 2, false, true, true, -",
    })
    void matchesTheComposedConvolution(
            String dts, int B, int T, int D, int W, boolean silu, boolean withBias, boolean withTail, String cus) {
        DeviceTensors d = ZooCheck.gpu();
        ShortConvLauncher sc = new ShortConvLauncher(d);
        DType dt = dts.equals("f32") ? DType.F32 : DType.BF16;
        int[] cu = cus.equals("-")
                ? null
                : Arrays.stream(cus.split(";")).mapToInt(Integer::parseInt).toArray();
        int n = cu == null ? B : cu.length - 1;
        try (Scope s = Scope.open("conv")) {
            Tensor x = signed(11 + T, dt, B, T, D),
                    w = signed(12 + D, dt, D, W),
                    bias = withBias ? signed(13, dt, D) : null;
            Tensor tail0 = withTail ? signed(14, dt, n, W - 1, D) : null;
            Tensor dy = signed(15, dt, B, T, D), dTail = signed(16, dt, n, W - 1, D);
            double[][] ref = reference(x, w, bias, silu, tail0, dy, dTail, cu);
            ShortConvLauncher.Output out = sc.forward(
                    dev(x), dev(w), bias == null ? null : dev(bias), silu, tail0 == null ? null : dev(tail0), true, cu);
            ShortConvLauncher.Gradients gr = sc.backward(
                    dev(x),
                    dev(w),
                    bias == null ? null : dev(bias),
                    silu,
                    tail0 == null ? null : dev(tail0),
                    cu,
                    dev(dy),
                    dev(dTail));
            double tol = dt == DType.F32 ? 1e-5 : 1e-2;
            ZooCheck.Report rep = new ZooCheck.Report(String.format(
                    "short conv %s B=%d T=%d D=%d W=%d silu=%b bias=%b tail=%b cu=%s",
                    dts, B, T, D, W, silu, withBias, withTail, cus));
            rep.check("y", out.y(), ref[0], tol)
                    .check("final tail", out.finalTail(), ref[1], tol)
                    .check("dx", gr.dx(), ref[2], tol)
                    .check("dweight", gr.dWeight(), ref[3], tol);
            if (withBias) rep.check("dbias", gr.dBias(), ref[4], tol);
            if (withTail) rep.check("dtail0", gr.dInitialTail(), ref[5], tol);
            rep.verify();
        }
    }

    @Test
    void stepAdvancesTheTailLikeTheFullConvolution() {
        DeviceTensors d = ZooCheck.gpu();
        ShortConvLauncher sc = new ShortConvLauncher(d);
        int B = 2, T = 6, D = 72, W = 4;
        try (Scope s = Scope.open("conv-step")) {
            Tensor x = signed(21, DType.F32, B, T, D), w = signed(22, DType.F32, D, W), bias = signed(23, DType.F32, D);
            double[][] ref = reference(x, w, bias, true, null, signed(24, DType.F32, B, T, D), null, null);
            Tensor tail = dev(Tensor.zeros(DType.F32, B, W - 1, D));
            double[] y = new double[B * T * D];
            for (int t = 0; t < T; t++) {
                double[] yt = ZooCheck.host(
                        sc.step(dev(Views.contiguous(Views.narrow(x, 1, t, 1))), dev(w), dev(bias), true, tail));
                for (int b = 0; b < B; b++) System.arraycopy(yt, b * D, y, (b * T + t) * D, D);
            }
            new ZooCheck.Report("short conv step B=" + B + " T=" + T + " D=" + D + " W=" + W)
                    .check("y", y, ref[0], 1e-5)
                    .check("tail", tail, ref[1], 1e-5)
                    .verify();
        }
    }
}
