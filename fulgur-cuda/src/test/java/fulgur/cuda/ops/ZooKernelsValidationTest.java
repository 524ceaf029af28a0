package fulgur.cuda.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.cuda.KernelModule;
import fulgur.cuda.KernelSignature;
import fulgur.cuda.ops.conv.ShortConvLauncher;
import fulgur.cuda.ops.gla.GlaLauncher;
import fulgur.cuda.ops.lcsm.LcsmLauncher;
import fulgur.cuda.ops.lightnet.LightNetLauncher;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The op-family launchers' argument checks and sequence tables, and their kernels' declarations (no GPU needed). */
class ZooKernelsValidationTest {
    static Tensor z(DType dt, int... shape) {
        return Tensor.zeros(dt, shape);
    }

    @Test
    void glaRejectsBadShapesDtypesAndSequenceStarts() {
        try (Scope s = Scope.open()) {
            Tensor q = z(DType.BF16, 2, 10, 3, 64), v = z(DType.BF16, 2, 10, 3, 32), g = z(DType.F32, 2, 10, 3, 64);
            GlaLauncher.Dims d = GlaLauncher.validate("gla", q, q, v, g, null, null);
            assertThat(d.cu()).containsExactly(0, 10, 20);
            assertThatThrownBy(() -> GlaLauncher.validate("gla", q, z(DType.BF16, 2, 10, 3, 32), v, g, null, null))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("gla: k ");
            assertThatThrownBy(() -> GlaLauncher.validate("gla", q, q, z(DType.BF16, 2, 9, 3, 32), g, null, null))
                    .hasMessageContaining("v ")
                    .hasMessageContaining("[B, T, H, V]");
            assertThatThrownBy(() -> GlaLauncher.validate("gla", q, q, z(DType.F32, 2, 10, 3, 32), g, null, null))
                    .hasMessageContaining("one dtype");
            assertThatThrownBy(() -> GlaLauncher.validate(
                            "gla",
                            z(DType.F16, 2, 10, 3, 64),
                            z(DType.F16, 2, 10, 3, 64),
                            z(DType.F16, 2, 10, 3, 32),
                            g,
                            null,
                            null))
                    .hasMessageContaining("bf16 or f32");
            assertThatThrownBy(() -> GlaLauncher.validate(
                            "gla",
                            z(DType.F32, 1, 4, 1, 264),
                            z(DType.F32, 1, 4, 1, 264),
                            z(DType.F32, 1, 4, 1, 8),
                            z(DType.F32, 1, 4, 1, 264),
                            null,
                            null))
                    .hasMessageContaining("K=264");
            assertThatThrownBy(() -> GlaLauncher.validate("gla", q, q, v, g, null, new int[] {0, 5, 10}))
                    .hasMessageContaining("batch size must be 1");
            Tensor q1 = z(DType.BF16, 1, 10, 3, 64), v1 = z(DType.BF16, 1, 10, 3, 32), g1 = z(DType.F32, 1, 10, 3, 64);
            assertThatThrownBy(() -> GlaLauncher.validate("gla", q1, q1, v1, g1, null, new int[] {0, 5, 9}))
                    .hasMessageContaining("end at T=10");
            assertThat(GlaLauncher.validate("gla", q1, q1, v1, g1, null, new int[] {0, 5, 5, 10})
                            .cu())
                    .as("an empty sequence")
                    .containsExactly(0, 5, 5, 10);
            assertThatThrownBy(() -> GlaLauncher.validate("gla", q1, q1, v1, g1, null, new int[] {0, 6, 5, 10}))
                    .hasMessageContaining("must not decrease");
            assertThatThrownBy(() -> Sequences.starts("conv", 1, 10, new int[] {0, 5, 5, 10}))
                    .hasMessageContaining("increase strictly");
            assertThatThrownBy(() -> GlaLauncher.validate(
                            "gla", q1, q1, v1, g1, z(DType.F32, 3, 3, 64, 32), new int[] {0, 5, 10}))
                    .hasMessageContaining("initial state must be f32 [2, 3, 64, 32]");
            assertThatThrownBy(() -> GlaLauncher.validate("gla", q, q, v, g, z(DType.BF16, 2, 3, 64, 32), null))
                    .hasMessageContaining("initial state");
            assertThat(GlaLauncher.tensorCores(DType.BF16, 128, 128)).isTrue();
            assertThat(GlaLauncher.tensorCores(DType.BF16, 48, 40)).isTrue();
            assertThat(GlaLauncher.tensorCores(DType.BF16, 256, 128)).isFalse();
            assertThat(GlaLauncher.tensorCores(DType.BF16, 100, 128)).isFalse();
            assertThat(GlaLauncher.tensorCores(DType.F32, 64, 64)).isFalse();
        }
    }

    @Test
    void otherFamiliesRejectBadArguments() {
        try (Scope s = Scope.open()) {
            Tensor q = z(DType.F32, 1, 6, 2, 16), v = z(DType.F32, 1, 6, 2, 8);
            assertThatThrownBy(
                            () -> LightNetLauncher.validate("lightnet", q, q, v, z(DType.F32, 1, 2, 16, 8), null, null))
                    .hasMessageContaining("both s0 and z0");
            assertThatThrownBy(() -> LightNetLauncher.validate(
                            "lightnet", q, q, v, z(DType.F32, 1, 2, 16, 8), z(DType.F32, 1, 2, 8), null))
                    .hasMessageContaining("z0 must be f32 [1, 2, 16]");

            Tensor x = z(DType.BF16, 2, 7, 32);
            assertThatThrownBy(() -> ShortConvLauncher.validate("conv", x, z(DType.BF16, 32, 9), null, null, null))
                    .hasMessageContaining("W=9");
            assertThatThrownBy(() -> ShortConvLauncher.validate("conv", x, z(DType.BF16, 31, 4), null, null, null))
                    .hasMessageContaining("[D, W]");
            assertThatThrownBy(() ->
                            ShortConvLauncher.validate("conv", x, z(DType.BF16, 32, 4), z(DType.F32, 32), null, null))
                    .hasMessageContaining("bias must be [32]");
            assertThatThrownBy(() -> ShortConvLauncher.validate(
                            "conv", x, z(DType.BF16, 32, 4), null, z(DType.BF16, 2, 4, 32), null))
                    .hasMessageContaining("[2, 3, 32] [N, W-1, D]");
            assertThat(ShortConvLauncher.validate("conv", x, z(DType.F32, 32, 1, 4), null, null, null)[0])
                    .containsExactly(2, 32, 4);

            Tensor i = z(DType.F32, 2, 5, 8),
                    e = Views.expand(z(DType.F32, 2, 5, 3, 1), 2, 5, 3, 8),
                    lo = z(DType.F32, 2, 5, 3, 8);
            assertThat(LcsmLauncher.validate("lcsm", i, e, lo, e, null)).containsExactly(2, 5, 3, 8);
            assertThatThrownBy(() -> LcsmLauncher.validate("lcsm", i, z(DType.F32, 2, 5, 3, 1), lo, e, null))
                    .hasMessageContaining("e must be [B, T, k, d]");
            assertThatThrownBy(() -> LcsmLauncher.validate("lcsm", i, e, lo, e, z(DType.F32, 2, 8, 3)))
                    .hasMessageContaining("m0 must be");
            Tensor big = z(DType.F32, 1, 2, 65, 4);
            assertThatThrownBy(() -> LcsmLauncher.validate("lcsm", z(DType.F32, 1, 2, 4), big, big, big, null))
                    .hasMessageContaining("k=65");
        }
    }

    @Test
    void sequenceTablesCutSequencesIntoSegments() {
        Sequences sq = Sequences.of(new int[] {0, 50, 51, 200}, 64);
        assertThat(sq.count()).isEqualTo(3);
        assertThat(sq.segments()).isEqualTo(1 + 1 + 3);
        assertThat(sq.maxSegmentsPerSequence()).isEqualTo(3);
        assertThat(sq.seqTab()).containsExactly(0, 50, 0, 1, 50, 51, 1, 1, 51, 200, 2, 3);
        assertThat(sq.segTab())
                .containsExactly(0, 50, 0, 3, 50, 51, 1, 3, 51, 115, 2, 1, 115, 179, 2, 0, 179, 200, 2, 2);
        assertThat(sq.hasEmpty()).isFalse();
        assertThat(Sequences.of(new int[] {0, 7, 14}, Integer.MAX_VALUE).segTab())
                .containsExactly(0, 7, 0, 3, 7, 14, 1, 3);
        Sequences empty = Sequences.of(new int[] {0, 37, 37, 150}, 64);
        assertThat(empty.hasEmpty()).isTrue();
        assertThat(empty.seqTab())
                .as("the empty sequence has no segment")
                .containsExactly(0, 37, 0, 1, 37, 37, 1, 0, 37, 150, 1, 2);
        assertThat(empty.segTab()).containsExactly(0, 37, 0, 3, 37, 101, 2, 1, 101, 150, 2, 2);
        // the zoo's shapes on 132 multiprocessors, 8 heads x 2 value tiles per segment
        assertThat(Sequences.segmentLength(Sequences.starts("t", 8, 2048, null), 16, 132, 64))
                .isEqualTo(2048);
        assertThat(Sequences.segmentLength(Sequences.starts("t", 2, 16384, null), 16, 132, 64))
                .isEqualTo(4096);
        assertThat(Sequences.segmentLength(Sequences.starts("t", 1, 100, null), 1, 132, 64))
                .isEqualTo(64);
    }

    @Test
    void everyKernelTheLaunchersCallIsDeclaredWithItsArgumentCount() {
        Map<String, Integer> want = Map.ofEntries(
                Map.entry("gla.cu#gla_fwd", 17),
                Map.entry("gla.cu#gla_dq", 15),
                Map.entry("gla.cu#gla_dkdv", 23),
                Map.entry("gla.cu#gla_state_scan", 9),
                Map.entry("gla_aux.cu#gla_finish", 17),
                Map.entry("gla_aux.cu#gla_finish_blocks", 15),
                Map.entry("lightnet.cu#ln_prep_local", 7),
                Map.entry("lightnet.cu#ln_prep_carry", 6),
                Map.entry("lightnet.cu#ln_prep", 11),
                Map.entry("lightnet.cu#ln_post_local", 15),
                Map.entry("lightnet.cu#ln_post_carry", 8),
                Map.entry("lightnet.cu#ln_post", 15),
                Map.entry("gla_recurrent.cu#glr_fwd", 15),
                Map.entry("gla_recurrent.cu#glr_dq", 14),
                Map.entry("gla_recurrent.cu#glr_bwd", 17),
                Map.entry("conv.cu#conv_fwd", 12),
                Map.entry("conv.cu#conv_tail", 7),
                Map.entry("conv.cu#conv_bwd", 17),
                Map.entry("conv.cu#conv_cast", 4),
                Map.entry("lcsm.cu#lcsm_local", 13),
                Map.entry("lcsm.cu#lcsm_carry", 11),
                Map.entry("lcsm.cu#lcsm_fwd", 11),
                Map.entry("lcsm.cu#lcsm_bwd", 16));
        want.forEach((key, count) -> {
            String[] fk = key.split("#");
            Map<String, KernelSignature> sigs = KernelSignature.parseAll(KernelModule.resource(fk[0]));
            assertThat(sigs).as(key).containsKey(fk[1]);
            assertThat(sigs.get(fk[1]).params()).as(key + " parameters").hasSize(count);
        });
        assertThat(KernelSignature.parseAll(KernelModule.resource("lcsm.cu"))
                        .get("lcsm_fwd")
                        .params()
                        .get(5)
                        .kind())
                .isEqualTo(KernelSignature.Kind.STRUCT);
    }
}
