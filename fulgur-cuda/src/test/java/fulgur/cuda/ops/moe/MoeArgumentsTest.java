package fulgur.cuda.ops.moe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.cuda.KernelModule;
import fulgur.cuda.KernelSignature;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Argument checks of the MoE launchers, without a GPU (metadata of CPU tensors). */
class MoeArgumentsTest {
    static final MoeRouter.Config MINIMAX = new MoeRouter.Config(32, 2, MoeRouter.Gating.SOFTMAX, true, 0.01);

    static Tensor bf16(int... shape) {
        return Tensor.empty(DType.BF16, shape);
    }

    @Test
    void configListsEveryProblem() {
        assertThatThrownBy(() -> new MoeRouter.Config(0, 0, null, true, -1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("experts must be in [1, 256], got 0")
                .hasMessageContaining("topK must be in")
                .hasMessageContaining("gating must be set")
                .hasMessageContaining("auxLossCoef must be finite and >= 0");
        assertThatThrownBy(() -> new MoeRouter.Config(300, 2, MoeRouter.Gating.SOFTMAX, true, 0))
                .hasMessageContaining("got 300");
        assertThatThrownBy(() -> new MoeRouter.Config(32, 9, MoeRouter.Gating.SOFTMAX, true, 0))
                .hasMessageContaining("min(8, experts=32)");
        assertThatThrownBy(() -> new MoeRouter.Config(2, 3, MoeRouter.Gating.SOFTMAX, true, 0))
                .hasMessageContaining("got 3");
        assertThatThrownBy(() -> new MoeRouter.Config(8, 2, MoeRouter.Gating.SIGMOID, false, Double.NaN))
                .hasMessageContaining("auxLossCoef");
    }

    @Test
    void checksRouterLogits() {
        assertThat(MoeRouter.checkLogits("op", Tensor.empty(DType.F32, 10, 32), MINIMAX))
                .isEqualTo(10);
        assertThat(MoeRouter.checkLogits("op", bf16(7, 32), MINIMAX)).isEqualTo(7);
        assertThatThrownBy(() -> MoeRouter.checkLogits("op", Tensor.empty(DType.F32, 2, 5, 32), MINIMAX))
                .hasMessageContaining("f32 or bf16 [N, E]");
        assertThatThrownBy(() -> MoeRouter.checkLogits("op", Tensor.empty(DType.I32, 5, 32), MINIMAX))
                .hasMessageContaining("f32 or bf16 [N, E]");
        assertThatThrownBy(() -> MoeRouter.checkLogits("op", Tensor.empty(DType.F32, 5, 16), MINIMAX))
                .hasMessage("op: logits have 16 experts, the config 32");
        assertThatThrownBy(() -> MoeRouter.checkLogits("op", Tensor.empty(DType.F32, 0, 32), MINIMAX))
                .hasMessageContaining("no tokens");
        assertThatThrownBy(() -> MoeRouter.checkLogits("op", null, MINIMAX)).hasMessageContaining("must not be null");
    }

    @Test
    void checksTokenRows() {
        MoeRouter.checkRows("op", "x", bf16(10, 64), 10);
        assertThatThrownBy(() -> MoeRouter.checkRows("op", "x", bf16(10, 60), 10))
                .hasMessageContaining("multiple of 8");
        assertThatThrownBy(() -> MoeRouter.checkRows("op", "x", bf16(9, 64), 10))
                .hasMessageContaining("must be bf16 [10, D]");
        assertThatThrownBy(() -> MoeRouter.checkRows("op", "x", Tensor.empty(DType.F32, 10, 64), 10))
                .hasMessageContaining("must be bf16");
    }

    @Test
    void checksStackedWeightsAndOffsets() {
        Tensor off = Tensor.empty(DType.I32, 9);
        assertThat(GroupedGemm.checkWeight("op", bf16(8, 128, 64), off)).isEqualTo(8);
        assertThatThrownBy(() -> GroupedGemm.checkWeight("op", bf16(128, 64), off))
                .hasMessageContaining("bf16 [E, N, K]");
        assertThatThrownBy(() -> GroupedGemm.checkWeight("op", Tensor.empty(DType.F32, 8, 128, 64), off))
                .hasMessageContaining("bf16 [E, N, K]");
        assertThatThrownBy(() -> GroupedGemm.checkWeight("op", bf16(8, 128, 64), Tensor.empty(DType.I32, 8)))
                .hasMessageContaining("offsets must be i32 [9] for 8 experts");
        assertThatThrownBy(() -> GroupedGemm.checkWeight("op", bf16(8, 100, 64), off))
                .hasMessageContaining("multiples of 8");
        assertThatThrownBy(() -> GroupedGemm.checkMatrix("op", "a", bf16(10, 32), 64))
                .hasMessageContaining("op: a must be bf16 [M, 64], got ");
        assertThatThrownBy(
                        () -> ExpertFfn.checkWeights("op", bf16(8, 128, 64), bf16(8, 128, 64), bf16(8, 128, 64), off))
                .hasMessageContaining("expected w1, w3 [E, F, D] and w2 [E, D, F]");
        ExpertFfn.checkWeights("op", bf16(8, 128, 64), bf16(8, 128, 64), bf16(8, 64, 128), off);
    }

    @Test
    void everyKernelTheLaunchersNameIsDeclared() {
        Map<String, KernelSignature> sigs = KernelSignature.parseAll(KernelModule.resource(MoeRouter.FILE));
        assertThat(sigs.keySet())
                .contains(
                        "moe_route",
                        "moe_scan",
                        "moe_dispatch",
                        "moe_gather_rows",
                        "moe_combine",
                        "moe_combine_bwd",
                        "moe_unpermute_bwd",
                        "moe_route_bwd",
                        "moe_silu_mul",
                        "moe_silu_mul_bwd",
                        "moe_gemm_nt",
                        "moe_gemm_nn",
                        "moe_gemm_dw");
        assertThat(sigs.get("moe_route").params()).hasSize(12);
        assertThat(sigs.get("moe_gemm_nt").params()).hasSize(8);
        assertThat(sigs.get("moe_gemm_dw").params()).hasSize(8);
        assertThat(sigs.get("moe_route_bwd").params()).hasSize(13);
    }
}
