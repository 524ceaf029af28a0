package fulgur.cuda.ops.lightning;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.cuda.CudaContext;
import fulgur.cuda.CudaStream;
import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.GpuSupport;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

@Tag("gpu")
class LightningAttentionGpuTest {
    static final double TOL = 1e-2;

    @ParameterizedTest(name = "B={0} T={1} H={2} dk={3} dv={4} seg={5} scale={6} s0={7} dht={8}")
    @CsvSource({
        // T not a multiple of 64, several segments with a partial last one, initial state and dht
        "2, 300, 3, 128, 128, 128, 0.08838835, true, true",
        // default segment length (many one-block segments), no states
        "1, 1000, 2, 128, 128, 0, 1.0, false, false",
        // one segment (the walks take the initial state / dht and leave the final state / dS0)
        "1, 700, 2, 128, 128, 1024, 1.0, true, false",
        "1, 700, 2, 128, 128, 1024, 1.0, true, true",
        // head dim 64, short sequences, tiny T
        "2, 200, 2, 64, 64, 64, 0.125, true, true",
        "1, 17, 3, 64, 64, 64, 1.0, true, true",
        "1, 17, 3, 64, 64, 1024, 1.0, true, true",
        // dk != dv (the dq walk uses the swapped instantiation)
        "1, 130, 2, 64, 128, 128, 0.5, true, true",
        "1, 150, 2, 128, 64, 64, 0.5, true, false",
        "1, 150, 2, 128, 64, 256, 0.5, true, true",
    })
    void matchesTheRecurrence(
            int B, int T, int H, int DK, int DV, int seg, float scale, boolean withS0, boolean withDht) {
        CudaContext ctx = GpuSupport.contextWithNvrtc();
        SplittableRandom r = new SplittableRandom(T * 1000L + B * 100L + H * 10L + DK + DV);
        float[] q = GpuSupport.randomBf16(r, B * T * H * DK, -1, 1);
        float[] k = GpuSupport.randomBf16(r, B * T * H * DK, -1, 1);
        float[] v = GpuSupport.randomBf16(r, B * T * H * DV, -1, 1);
        float[] dout = GpuSupport.randomBf16(r, B * T * H * DV, -1, 1);
        float[] s0 = withS0 ? GpuSupport.randomF32(r, B * H * DK * DV, -1, 1) : null;
        float[] dht = withDht ? GpuSupport.randomF32(r, B * H * DK * DV, -1, 1) : null;
        float[] slopes = new float[H];
        float[] pool = {0.0039f, 0.25f, 1.5f, 0.06f};
        for (int h = 0; h < H; h++) slopes[h] = pool[h % pool.length];

        LightningReference ref = LightningReference.run(B, T, H, DK, DV, q, k, v, dout, slopes, scale, s0, dht);
        LightningAttention la = new LightningAttention(ctx);
        LightningAttention.Shape sh = new LightningAttention.Shape(B, T, H, DK, DV);
        int segLen = seg == 0 ? la.defaultSegmentLength(sh) : seg;
        CudaStream st = CudaStream.DEFAULT;
        try (DeviceBuffer dq_ = GpuSupport.uploadBf16(ctx, q);
                DeviceBuffer dk_ = GpuSupport.uploadBf16(ctx, k);
                DeviceBuffer dv_ = GpuSupport.uploadBf16(ctx, v);
                DeviceBuffer ddo = GpuSupport.uploadBf16(ctx, dout);
                DeviceBuffer dSl = GpuSupport.uploadF32(ctx, slopes);
                DeviceBuffer dS0 = s0 == null ? null : GpuSupport.uploadF32(ctx, s0);
                DeviceBuffer dHt = dht == null ? null : GpuSupport.uploadF32(ctx, dht);
                DeviceBuffer o = ctx.allocate(2L * B * T * H * DV, st);
                DeviceBuffer gq = ctx.allocate(2L * B * T * H * DK, st);
                DeviceBuffer gk = ctx.allocate(2L * B * T * H * DK, st);
                DeviceBuffer gv = ctx.allocate(2L * B * T * H * DV, st);
                DeviceBuffer fin = ctx.allocate(4L * B * H * DK * DV, st);
                DeviceBuffer gs0 = ctx.allocate(4L * B * H * DK * DV, st);
                DeviceBuffer states = ctx.allocate(LightningAttention.stateBytes(sh, segLen), st)) {
            for (DeviceBuffer d : new DeviceBuffer[] {o, gq, gk, gv}) d.fill16((short) 0x7FC0, st);
            for (DeviceBuffer d : new DeviceBuffer[] {fin, gs0, states}) d.fill32(0x7FC00000, st);
            la.forward(
                    st,
                    sh,
                    LightningAttention.Layout.contiguous(sh),
                    segLen,
                    dq_,
                    dk_,
                    dv_,
                    o,
                    dSl,
                    scale,
                    dS0,
                    fin,
                    states);
            // the backward from the forward's saved states, or (null) recomputing them
            Consumer<DeviceBuffer> backward = saved -> la.backward(
                    st,
                    sh,
                    LightningAttention.Layout.contiguous(sh),
                    segLen,
                    dq_,
                    dk_,
                    dv_,
                    ddo,
                    dSl,
                    scale,
                    dS0,
                    dHt,
                    saved,
                    gq,
                    gk,
                    gv,
                    gs0,
                    null,
                    0,
                    null,
                    0);
            backward.accept(states);
            ctx.synchronize();
            double eo = GpuSupport.relErr(GpuSupport.downloadBf16(o, B * T * H * DV), ref.o);
            double ef = GpuSupport.relErr(GpuSupport.downloadF32(fin, B * H * DK * DV), ref.finalState);
            double eq = GpuSupport.relErr(GpuSupport.downloadBf16(gq, B * T * H * DK), ref.dq);
            double ek = GpuSupport.relErr(GpuSupport.downloadBf16(gk, B * T * H * DK), ref.dk);
            double ev = GpuSupport.relErr(GpuSupport.downloadBf16(gv, B * T * H * DV), ref.dv);
            double es = GpuSupport.relErr(GpuSupport.downloadF32(gs0, B * H * DK * DV), ref.dS0);
            System.out.printf(
                    "lightning B=%d T=%d H=%d dk=%d dv=%d seg=%d: rel err o %.2e final %.2e dq %.2e dk %.2e dv %.2e dS0 %.2e%n",
                    B, T, H, DK, DV, segLen, eo, ef, eq, ek, ev, es);
            assertThat(eo).as("o").isLessThan(TOL);
            assertThat(ef).as("final state").isLessThan(TOL);
            assertThat(eq).as("dq").isLessThan(TOL);
            assertThat(ek).as("dk").isLessThan(TOL);
            assertThat(ev).as("dv").isLessThan(TOL);
            assertThat(es).as("dS0").isLessThan(TOL);

            // backward without the saved states (recomputed) gives the same gradients
            gq.fill16((short) 0x7FC0, st);
            backward.accept(null);
            ctx.synchronize();
            assertThat(GpuSupport.relErr(GpuSupport.downloadBf16(gq, B * T * H * DK), ref.dq))
                    .isLessThan(TOL);
        }
    }
}
