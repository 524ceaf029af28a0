package fulgur.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.cuda.KernelSignature.Kind;
import java.util.Map;
import org.junit.jupiter.api.Test;

class KernelSignatureTest {

    @Test
    void parsesTheLightningKernels() {
        Map<String, KernelSignature> all = KernelSignature.parseAll(KernelModule.resource("lightning.cu"));
        assertThat(all).containsOnlyKeys("la_chunk_state", "la_state_scan", "la_fwd_walk", "la_bwd_dkdv");
        KernelSignature walk = all.get("la_fwd_walk");
        assertThat(walk.params())
                .extracting(KernelSignature.Param::kind)
                .containsExactly(
                        Kind.POINTER,
                        Kind.POINTER,
                        Kind.POINTER,
                        Kind.POINTER,
                        Kind.POINTER,
                        Kind.POINTER,
                        Kind.FLOAT,
                        Kind.INT,
                        Kind.INT,
                        Kind.INT,
                        Kind.INT,
                        Kind.POINTER,
                        Kind.LONG,
                        Kind.LONG,
                        Kind.LONG,
                        Kind.LONG,
                        Kind.INT,
                        Kind.POINTER,
                        Kind.LONG);
        assertThat(walk.params().get(6).name()).isEqualTo("scale");
        assertThat(walk.params().get(16).name()).isEqualTo("silu");
    }

    @Test
    void parsesQualifiersCommentsAndLaunchBounds() {
        String src = """
        // extern "C" __global__ void commented_out(int x) {}
        extern "C" __global__ void __launch_bounds__(256, 2)
        k1(const float* __restrict__ x, unsigned int n, long long off, double d, size_t s) { }
        /* extern "C" __global__ void nope(float) */
        extern "C" __global__ void k2() {}
        """;
        Map<String, KernelSignature> all = KernelSignature.parseAll(src);
        assertThat(all).containsOnlyKeys("k1", "k2");
        assertThat(all.get("k1").params())
                .extracting(KernelSignature.Param::kind)
                .containsExactly(Kind.POINTER, Kind.INT, Kind.LONG, Kind.DOUBLE, Kind.LONG);
        assertThat(all.get("k2").params()).isEmpty();
    }

    @Test
    void rejectsUnsupportedParameterTypes() {
        assertThatThrownBy(() -> KernelSignature.parseAll("extern \"C\" __global__ void k(MyStruct s) {}"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("MyStruct s");
    }

    @Test
    void checksArgumentCountAndKinds() {
        KernelSignature sig = KernelSignature.parseAll(
                        "extern \"C\" __global__ void axpy(float a, const float* x, float* y, int n) {}")
                .get("axpy");
        DevicePointer p = DevicePointer.of(0x1000);
        sig.check(2f, p, null, 5);
        assertThatThrownBy(() -> sig.check(2f, p, p))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("takes 4 arguments, got 3");
        assertThatThrownBy(() -> sig.check(2, p, p, 5))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("argument 0 (float a) needs a Float");
        assertThatThrownBy(() -> sig.check(2f, p, p, 5L))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("argument 3 (int n) needs an Integer");
        assertThatThrownBy(() -> sig.check(2f, 7L, p, 5))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("needs a DevicePointer");
    }

    @Test
    void parsesTheBackendKernelsWithIncludesAndStructs() {
        String src = KernelModule.resource("tensor.cu");
        assertThat(src).contains("struct ShapeDesc").doesNotContain("#include \"tensor_common.cuh\"");
        Map<String, KernelSignature> t = KernelSignature.parseAll(src);
        assertThat(t)
                .containsKeys("t_copy", "t_unary_f", "t_binary_d", "t_reduce_rows", "t_adamw_f32", "t_dropout_mask");
        assertThat(t.get("t_copy").params())
                .extracting(KernelSignature.Param::kind)
                .containsExactly(Kind.STRUCT, Kind.POINTER, Kind.INT, Kind.POINTER, Kind.INT, Kind.LONG);
        assertThat(KernelSignature.parseAll(KernelModule.resource("nn.cu")))
                .containsKeys("nn_softmax_f", "nn_ce_fwd_f", "nn_layernorm_bwd");
        assertThat(KernelSignature.parseAll(KernelModule.resource("lightning_generic.cu"))
                        .get("lg_walk")
                        .params())
                .hasSize(19);
        KernelSignature sig = t.get("t_copy");
        sig.check(new KernelStruct(new byte[392]), DevicePointer.of(16), 0, null, 1, 5L);
        assertThatThrownBy(() -> sig.check(DevicePointer.of(16), DevicePointer.of(16), 0, null, 1, 5L))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("needs a KernelStruct");
    }
}
