package fulgur.cuda;

import static fulgur.cuda.BackendCheck.GPU;
import static fulgur.cuda.BackendCheck.assertClose;
import static fulgur.cuda.BackendCheck.dev;
import static fulgur.cuda.BackendCheck.gpu;
import static fulgur.cuda.BackendCheck.randn;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.ops.lightning.Lightning;
import fulgur.ops.lightning.LightningChunked;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@link Lightning} (the autograd op) on CUDA tensors against the same op on the CPU: values and the gradients of q,
 * k, v and the initial state, through the exact f32 kernel (any dims, packed sequences) and the bf16 tensor-core
 * kernels; decoding through the recurrent form.
 */
@Tag("gpu")
class LightningDispatchGpuTest {
    private Scope scope;

    @BeforeEach
    void open() {
        scope = Scope.open("test");
    }

    @AfterEach
    void close() {
        scope.close();
    }

    static double[] slopes(int h) {
        double[] s = new double[h];
        for (int i = 0; i < h; i++) s[i] = 0.05 + 0.4 * i / Math.max(1, h - 1);
        return s;
    }

    /** Runs the op on both devices with the same inputs and compares output, final state and all gradients. */
    static void compare(
            String what, DType dt, int b, int t, int h, int dk, int dv, boolean s0, boolean fs, int[] cu, double tol) {
        long seed = what.hashCode();
        int n = cu == null ? b : cu.length - 1;
        Tensor q = randn(seed, DType.F32, b, t, h, dk).mul(0.5).to(dt);
        Tensor k = randn(seed + 1, DType.F32, b, t, h, dk).mul(0.5).to(dt);
        Tensor v = randn(seed + 2, DType.F32, b, t, h, dv).to(dt);
        Tensor st = s0 ? randn(seed + 3, DType.F32, n, h, dk, dv) : null;
        Tensor ro = randn(seed + 4, DType.F32, b, t, h, dv);
        Tensor rs = randn(seed + 5, DType.F32, n, h, dk, dv);
        double[] sl = slopes(h);
        // leaves on the GPU (copies of tensors that require no gradient) and the CPU reference in f32 on the same
        // values
        Tensor gq = dev(q).requiresGrad(true), gk = dev(k).requiresGrad(true), gv = dev(v).requiresGrad(true);
        Tensor gs = st == null ? null : dev(st).requiresGrad(true);
        Tensor cq = q.to(DType.F32).copy().requiresGrad(true),
                ck = k.to(DType.F32).copy().requiresGrad(true);
        Tensor cv = v.to(DType.F32).copy().requiresGrad(true);
        Tensor cs = st == null ? null : st.copy().requiresGrad(true);
        Lightning.Result cr = Lightning.chunked(cq, ck, cv, sl, 0.8, cs, fs, LightningChunked.DEFAULT_BLOCK, cu);
        Tensor closs = cr.output().mul(ro).sum();
        if (fs) closs = closs.add(cr.finalState().mul(rs).sum());
        closs.backward();
        Lightning.Result gr = Lightning.chunked(gq, gk, gv, sl, 0.8, gs, fs, LightningChunked.DEFAULT_BLOCK, cu);
        assertThat(gr.output().dtype()).isEqualTo(dt);
        Tensor gloss = gr.output().to(DType.F32).mul(dev(ro)).sum();
        if (fs) gloss = gloss.add(gr.finalState().mul(dev(rs)).sum());
        gloss.backward();
        assertClose(what + " o", gr.output().to(DType.F32), cr.output(), tol);
        if (fs) assertClose(what + " final state", gr.finalState(), cr.finalState(), tol);
        assertClose(what + " dq", gq.grad().to(DType.F32), cq.grad(), tol);
        assertClose(what + " dk", gk.grad().to(DType.F32), ck.grad(), tol);
        assertClose(what + " dv", gv.grad().to(DType.F32), cv.grad(), tol);
        if (s0) assertClose(what + " dS0", gs.grad(), cs.grad(), tol);
    }

    @Test
    void exactF32KernelAnyDims() {
        gpu();
        compare("f32 dk=24 dv=40 S0 ST", DType.F32, 2, 70, 3, 24, 40, true, true, null, 2e-5);
        compare("f32 dk=128 dv=64", DType.F32, 1, 130, 2, 128, 64, false, false, null, 2e-5);
        compare("f32 dk=256 dv=16 S0", DType.F32, 1, 33, 1, 256, 16, true, false, null, 2e-5);
        compare("f32 varlen", DType.F32, 1, 50, 2, 16, 24, true, true, new int[] {0, 13, 13, 50}, 2e-5);
        compare("bf16 dk=48 (exact kernel)", DType.BF16, 2, 40, 2, 48, 32, false, true, null, 2e-2);
    }

    @Test
    void tensorCoreKernelsForBf16() {
        gpu();
        compare("bf16 tc 64x64", DType.BF16, 2, 200, 4, 64, 64, false, false, null, 2e-2);
        compare("bf16 tc 128x64 S0 ST", DType.BF16, 1, 300, 2, 128, 64, true, true, null, 2e-2);
        compare("bf16 tc 128x128 long", DType.BF16, 1, 2100, 2, 128, 128, true, true, null, 2e-2);
    }

    @Test
    void recurrentDecoding() {
        gpu();
        int b = 2, t = 3, h = 2, dk = 24, dv = 40;
        Tensor q = randn(201, DType.F32, b, t, h, dk),
                k = randn(202, DType.F32, b, t, h, dk),
                v = randn(203, DType.F32, b, t, h, dv);
        Tensor state = randn(204, DType.F32, b, h, dk, dv);
        Tensor gstate = dev(state);
        Tensor out = Lightning.recurrent(q, k, v, slopes(h), 0.7, state);
        Tensor gout = Lightning.recurrent(dev(q), dev(k), dev(v), slopes(h), 0.7, gstate);
        assertClose("recurrent out", gout, out, 2e-5);
        assertClose("recurrent state", gstate, state, 2e-5);
    }

    /**
     * The decode kernels against the CPU's recurrence: one token and several (passes of up to 4 tokens), head dims of
     * TNL-385M, value dims whose quads do not fill a warp, bf16 inputs (bf16 out, f32 state), and a state that is a
     * view of rows inside a larger pool: only those rows change. Dims not divisible by 4 take the exact kernel.
     */
    @Test
    void decodeKernelsAdvanceTheStateInPlace() {
        gpu();
        decode("f32 1 token 128x128", DType.F32, 3, 1, 2, 128, 128, 2e-5);
        decode("f32 6 tokens 64x40", DType.F32, 2, 6, 3, 64, 40, 2e-5);
        decode("f32 3 tokens 24x8", DType.F32, 2, 3, 2, 24, 8, 2e-5);
        decode("bf16 1 token 128x128", DType.BF16, 4, 1, 8, 128, 128, 1e-2);
        decode("bf16 4 tokens 128x64", DType.BF16, 2, 4, 2, 128, 64, 1e-2);
        decode("f32 dv=42 (exact kernel)", DType.F32, 2, 2, 2, 16, 42, 2e-5);
    }

    private static void decode(String what, DType dt, int b, int t, int h, int dk, int dv, double tol) {
        long seed = what.hashCode();
        Tensor q = randn(seed, DType.F32, b, t, h, dk).mul(0.3).to(dt),
                k = randn(seed + 1, DType.F32, b, t, h, dk).mul(0.3).to(dt);
        Tensor v = randn(seed + 2, DType.F32, b, t, h, dv).to(dt);
        Tensor pool = randn(seed + 3, DType.F32, b + 2, h, dk, dv);
        Tensor state = pool.narrow(0, 1, b).copy();
        Tensor gpool = dev(pool);
        Tensor gstate = gpool.narrow(0, 1, b);
        double[] sl = slopes(h);
        Tensor out = Lightning.recurrent(q.to(DType.F32), k.to(DType.F32), v.to(DType.F32), sl, 0.7, state);
        Tensor gout = Lightning.recurrent(dev(q), dev(k), dev(v), sl, 0.7, gstate);
        assertThat(gout.dtype()).as(what).isEqualTo(dt);
        assertClose(what + " out", gout.to(DType.F32), out, tol);
        assertClose(what + " state", gstate, state, 2e-5);
        assertClose(what + " rows outside the view", gpool.narrow(0, 0, 1), pool.narrow(0, 0, 1), 0);
        assertClose(what + " rows outside the view", gpool.narrow(0, b + 1, 1), pool.narrow(0, b + 1, 1), 0);
    }

    @Test
    void unsupportedDimsAreNamed() {
        gpu();
        Tensor q = dev(randn(1, DType.F32, 1, 4, 1, 600));
        Tensor v = dev(randn(2, DType.F32, 1, 4, 1, 8));
        assertThatThrownBy(() -> Lightning.attention(q, q, v, slopes(1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("512")
                .hasMessageContaining("{64, 128}");
        assertThatThrownBy(() -> Lightning.attention(q, randn(3, DType.F32, 1, 4, 1, 600), v, slopes(1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("different devices");
        assertThat(q.device()).isEqualTo(GPU);
    }
}
