package fulgur.cuda.ops.attention;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.cuda.KernelModule;
import fulgur.cuda.KernelSignature;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Argument checks and launch geometry of the attention launchers, without a GPU (metadata of CPU tensors). */
class AttentionArgumentsTest {

    static Tensor bf16(int... shape) {
        return Tensor.empty(DType.BF16, shape);
    }

    static AttentionShape shape(Tensor q, Tensor k, Tensor v) {
        return AttentionShape.of("op", q, k, v, AttentionShape.HEAD_DIMS);
    }

    @Test
    void acceptsGroupedHeadsAndDifferentLengths() {
        AttentionShape s = shape(bf16(2, 5, 8, 64), bf16(2, 9, 2, 64), bf16(2, 9, 2, 64));
        assertThat(s).isEqualTo(new AttentionShape(2, 5, 9, 8, 2, 64));
        assertThat(s.group()).isEqualTo(4);
    }

    @Test
    void rejectsBadShapesWithOneClearLine() {
        assertThatThrownBy(() -> shape(bf16(2, 5, 64), bf16(2, 5, 8, 64), bf16(2, 5, 8, 64)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("expected [B, T, H, D]");
        assertThatThrownBy(() -> shape(Tensor.empty(DType.F32, 2, 5, 8, 64), bf16(2, 5, 8, 64), bf16(2, 5, 8, 64)))
                .hasMessageContaining("expected bf16");
        assertThatThrownBy(() -> shape(bf16(2, 5, 8, 64), bf16(2, 5, 8, 64), bf16(2, 6, 8, 64)))
                .hasMessageContaining("do not agree");
        assertThatThrownBy(() -> shape(bf16(2, 5, 8, 64), bf16(1, 5, 8, 64), bf16(1, 5, 8, 64)))
                .hasMessageContaining("do not agree");
        assertThatThrownBy(() -> shape(bf16(2, 5, 8, 64), bf16(2, 5, 3, 64), bf16(2, 5, 3, 64)))
                .hasMessageContaining("8 query heads are not a multiple of 3");
        assertThatThrownBy(() -> shape(bf16(2, 5, 8, 48), bf16(2, 5, 8, 48), bf16(2, 5, 8, 48)))
                .hasMessage("op: head dim 48 is not supported; the CUDA kernels take head dims 32, 64, 96, 128, 256");
        assertThatThrownBy(() -> AttentionShape.of(
                        "bwd",
                        bf16(1, 5, 2, 256),
                        bf16(1, 5, 2, 256),
                        bf16(1, 5, 2, 256),
                        AttentionShape.BACKWARD_HEAD_DIMS))
                .hasMessage("bwd: head dim 256 is not supported; the CUDA kernels take head dims 32, 64, 96, 128");
        assertThatThrownBy(() -> shape(bf16(2, 5, 8, 64), bf16(2, 5, 8, 64), null))
                .hasMessageContaining("must not be null");
    }

    @Test
    void rejectsScalesThatAreNotPositiveAndFinite() {
        for (double s : new double[] {0, -0.5, Double.NaN, Double.POSITIVE_INFINITY}) {
            assertThatThrownBy(() -> AttentionShape.checkScale("op", s))
                    .hasMessageContaining("scale must be finite and > 0");
        }
        AttentionShape.checkScale("op", 0.125);
    }

    @Test
    void checksPackedSequenceStarts() {
        assertThat(PackedSequences.check("op", "cu", new int[] {0, 1, 18, 118, 375}, 375))
                .isEqualTo(257);
        assertThat(PackedSequences.check("op", "cu", new int[] {0, 0, 4}, 4)).isEqualTo(4);
        assertThatThrownBy(() -> PackedSequences.check("op", "cu", null, 4)).hasMessageContaining("N+1 >= 2");
        assertThatThrownBy(() -> PackedSequences.check("op", "cu", new int[] {0}, 4))
                .hasMessageContaining("N+1 >= 2");
        assertThatThrownBy(() -> PackedSequences.check("op", "cu", new int[] {1, 4}, 4))
                .hasMessageContaining("cu[0] must be 0");
        assertThatThrownBy(() -> PackedSequences.check("op", "cu", new int[] {0, 3, 2, 4}, 4))
                .hasMessageContaining("non-decreasing");
        assertThatThrownBy(() -> PackedSequences.check("op", "cu", new int[] {0, 3}, 4))
                .hasMessageContaining("end at the packed row count 4");
    }

    @Test
    void operandsNeedAContiguousHeadDimAndSixteenByteRows() {
        assertThat(Operand.aligned(bf16(2, 5, 8, 64))).isTrue();
        assertThat(Operand.aligned(bf16(2, 5, 12, 64).narrow(2, 4, 4))).isTrue(); // a head slice of a packed projection
        assertThat(Operand.aligned(bf16(2, 5, 8, 64).narrow(3, 1, 32))).isFalse(); // offset of one element
        assertThat(Operand.aligned(bf16(2, 8, 5, 64).permute(0, 2, 1, 3))).isTrue();
        assertThat(Operand.aligned(bf16(2, 5, 64, 8).permute(0, 1, 3, 2))).isFalse(); // head dim strided
    }

    @Test
    void backwardSplitsAGroupOnlyWhenTheGridLeavesMultiprocessorsIdle() {
        assertThat(FlashAttention.groupParts(4, 200, 132)).isEqualTo(1);
        assertThat(FlashAttention.groupParts(1, 1, 132)).isEqualTo(1);
        assertThat(FlashAttention.groupParts(8, 1, 132)).isEqualTo(8);
        assertThat(FlashAttention.groupParts(4, 40, 132)).isEqualTo(4);
        assertThat(FlashAttention.groupParts(6, 50, 132)).isEqualTo(3);
    }

    @Test
    void sharedMemoryFitsTheHopperLimit() {
        for (int d : AttentionShape.HEAD_DIMS) {
            assertThat(FlashAttention.fwdSmem(d)).as("forward D=" + d).isLessThanOrEqualTo(227 * 1024);
            assertThat(PagedAttention.smem(d)).as("decode D=" + d).isLessThanOrEqualTo(227 * 1024);
        }
        for (int d : AttentionShape.BACKWARD_HEAD_DIMS) {
            assertThat(FlashAttention.bwdSmem(d, 64)).as("backward D=" + d).isLessThanOrEqualTo(227 * 1024);
        }
        assertThat(FlashAttention.fwdSmem(128)).isEqualTo((128 + 256) * 128 * 2);
        assertThat(FlashAttention.bwdSmem(128, 64))
                .isEqualTo(2 * 128 * 128 * 2 + 4 * 64 * 128 * 2 + 128 * 64 * 2 + 4 * 64 * 4);
        // warpgroup kernels: every forward setting the launcher takes (three consumer warpgroups only at D=64), the
        // backward
        for (int d : new int[] {64, 128}) {
            for (int wg = 2; wg <= (d == 64 ? 3 : 2); wg++) {
                for (int stages = 2; stages <= 3; stages++) {
                    assertThat(FlashAttention.fwd90Smem(d, wg, stages))
                            .as("wgmma forward D=%d WG=%d stages=%d", d, wg, stages)
                            .isLessThanOrEqualTo(227 * 1024);
                }
            }
            assertThat(FlashAttention.bwd90Smem(d)).as("wgmma backward D=" + d).isLessThanOrEqualTo(227 * 1024);
        }
        // Q, two stages of K and V, 9 mbarriers; K, V, Q[2], dO[2], dS^T, dQ staging [2] (f32, padded rows), lse, delta
        assertThat(FlashAttention.fwd90Smem(128, 2, 2)).isEqualTo(1024 + 128 * 128 * 2 + 4 * 128 * 128 * 2 + 9 * 8);
        assertThat(FlashAttention.bwd90Smem(128))
                .isEqualTo(1024 + 2 * 128 * 128 * 2 + 4 * 64 * 128 * 2 + 128 * 64 * 2 + 2 * 64 * 136 * 4 + 4 * 64 * 4);
        assertThat(FlashAttention.bwd90BlockM(64)).isEqualTo(128);
    }

    @Test
    void warpgroupKernelsApplyOnlyToComputeCapability90AndHeadDims64And128() {
        assertThat(FlashAttention.wgmmaApplies(9, 0, 64)).isTrue();
        assertThat(FlashAttention.wgmmaApplies(9, 0, 128)).isTrue();
        assertThat(FlashAttention.wgmmaApplies(9, 0, 96)).isFalse();
        assertThat(FlashAttention.wgmmaApplies(9, 0, 256)).isFalse();
        assertThat(FlashAttention.wgmmaApplies(8, 0, 128)).isFalse();
        assertThat(FlashAttention.wgmmaApplies(10, 0, 128)).isFalse();
        assertThat(FlashAttention.wgmmaApplies(8, 9, 64)).isFalse();
    }

    @Test
    void kernelSettingsAreCheckedByName() {
        FlashAttention.checkDefines(
                Map.of("F90_WG", "3", "F90_STAGES", "3", "F90_OVERLAP", "0", "F90_PINGPONG", "0", "BWD_BM", "32"));
        assertThatThrownBy(() -> FlashAttention.checkDefines(Map.of("F90_WG", "4")))
                .hasMessage("kernel setting F90_WG=4 is out of range");
        assertThatThrownBy(() -> FlashAttention.checkDefines(Map.of("HD", "64")))
                .hasMessage("unknown kernel setting HD");
    }

    @Test
    void kernelFamilyComesFromTheSystemProperty() {
        String old = System.getProperty(FlashAttention.KERNELS_PROPERTY);
        try {
            System.clearProperty(FlashAttention.KERNELS_PROPERTY);
            assertThat(FlashAttention.defaultKernels()).isEqualTo(FlashAttention.Kernels.AUTO);
            System.setProperty(FlashAttention.KERNELS_PROPERTY, "mma_sync");
            assertThat(FlashAttention.defaultKernels()).isEqualTo(FlashAttention.Kernels.MMA_SYNC);
            System.setProperty(FlashAttention.KERNELS_PROPERTY, "WGMMA");
            assertThat(FlashAttention.defaultKernels()).isEqualTo(FlashAttention.Kernels.WGMMA);
            System.setProperty(FlashAttention.KERNELS_PROPERTY, "fast");
            assertThatThrownBy(FlashAttention::defaultKernels)
                    .hasMessage(FlashAttention.KERNELS_PROPERTY + " must be auto, mma_sync or wgmma, got fast");
        } finally {
            if (old == null) System.clearProperty(FlashAttention.KERNELS_PROPERTY);
            else System.setProperty(FlashAttention.KERNELS_PROPERTY, old);
        }
    }

    @Test
    void checksPagedCacheGeometry() {
        Tensor q = bf16(3, 8, 128), kc = bf16(10, 16, 2, 128), vc = bf16(10, 16, 2, 128);
        Tensor table = Tensor.empty(DType.I32, 3, 4), lens = Tensor.empty(DType.I32, 3);
        PagedAttention.Geometry g = PagedAttention.Geometry.of("op", q, kc, vc, table, lens);
        assertThat(g).isEqualTo(new PagedAttention.Geometry(3, 8, 2, 128, 16, 4));
        assertThatThrownBy(() ->
                        PagedAttention.Geometry.of("op", q, bf16(10, 24, 2, 128), bf16(10, 24, 2, 128), table, lens))
                .hasMessageContaining("block size must be a multiple of 16, got 24");
        assertThatThrownBy(() -> PagedAttention.Geometry.of("op", q, kc, vc, Tensor.empty(DType.I64, 3, 4), lens))
                .hasMessageContaining("blockTable must be i32 [3, maxBlocks >= 1]");
        assertThatThrownBy(() -> PagedAttention.Geometry.of("op", q, kc, vc, table, Tensor.empty(DType.I32, 2)))
                .hasMessageContaining("seqLens must be i32 [3]");
        assertThatThrownBy(() -> PagedAttention.Geometry.of(
                        "op", bf16(3, 8, 48), bf16(10, 16, 2, 48), bf16(10, 16, 2, 48), table, lens))
                .hasMessageContaining("head dim 48 is not supported");
        assertThatThrownBy(() -> PagedAttention.Geometry.of("op", q, kc, bf16(10, 16, 4, 128), table, lens))
                .hasMessageContaining("differ");
        assertThatThrownBy(() -> PagedAttention.Geometry.of("op", bf16(3, 1, 8, 128), kc, vc, table, lens))
                .hasMessageContaining("q must be bf16 [N, H, D]");
    }

    @Test
    void decodeSplitsCoverTheLongestSequenceAndFillTheGpu() {
        for (int[] c : new int[][] {{1, 1, 10000}, {512, 8, 4096}, {4, 2, 100}, {1, 1, 1}, {64, 8, 32768}}) {
            PagedAttention.Geometry g = new PagedAttention.Geometry(c[0], 8 * c[1], c[1], 128, 16, (c[2] + 15) / 16);
            int[] sp = PagedAttention.splits(g, c[2], 132);
            int splitLen = sp[0], n = sp[1];
            assertThat(splitLen % 64).isZero();
            assertThat((long) splitLen * n).isGreaterThanOrEqualTo(c[2]);
            assertThat((long) splitLen * (n - 1)).isLessThan(c[2]);
            long ctas = (long) c[0] * c[1] * n;
            assertThat(ctas >= 132 || splitLen == 64)
                    .as("fills the GPU or splits as finely as allowed: " + java.util.Arrays.toString(c))
                    .isTrue();
        }
        assertThat(PagedAttention.splits(new PagedAttention.Geometry(512, 64, 8, 128, 16, 256), 4096, 132)[1])
                .isEqualTo(1);
    }

    @Test
    void everyKernelTheLaunchersNameIsDeclared() {
        Map<String, KernelSignature> sigs = KernelSignature.parseAll(KernelModule.resource(FlashAttention.FILE));
        assertThat(sigs.keySet())
                .contains(
                        "fa_fwd",
                        "fa_bwd_pre",
                        "fa_bwd",
                        "fa_f32_to_bf16",
                        "fa_decode",
                        "fa_decode_combine",
                        "fa_paged_append");
        assertThat(sigs.get("fa_fwd").params()).hasSize(22);
        assertThat(sigs.get("fa_bwd").params()).hasSize(33);
        assertThat(sigs.get("fa_decode").params()).hasSize(22);
        assertThat(sigs.get("fa_paged_append").params()).hasSize(16);
        // the warpgroup kernels take exactly the arguments of the mma.sync ones
        Map<String, KernelSignature> sm90 = KernelSignature.parseAll(KernelModule.resource(FlashAttention.FILE_SM90));
        assertThat(sm90.keySet()).containsExactly("fa90_fwd", "fa90_bwd");
        assertThat(sm90.get("fa90_fwd").params()).isEqualTo(sigs.get("fa_fwd").params());
        assertThat(sm90.get("fa90_bwd").params()).isEqualTo(sigs.get("fa_bwd").params());
    }
}
