package fulgur.models;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.GradMode;
import fulgur.io.safetensors.Safetensors;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** What every registered architecture must do through the registry, whatever its internals. */
class EveryArchitectureTest {

    static Stream<Architecture> architectures() {
        return Architectures.all().stream();
    }

    @ParameterizedTest
    @MethodSource("architectures")
    void configRoundTripsThroughTheRegistryAndSaysWhichArchitectureItIs(Architecture a) {
        String json = a.smallConfig(40, 16, 2, 2);
        assertThat(Architectures.forConfig(json)).isSameAs(a);
        try (Scope s = Scope.open();
                LanguageModel m = a.build(json, 3)) {
            assertThat(Architectures.forConfig(m.configJson())).isSameAs(a);
            assertThat(m.vocabSize()).isEqualTo(40);
            assertThat(m.describe()).isNotBlank();
        }
    }

    /**
     * A checkpoint written in the reference layout (sharded, with the index) loads back into the same weights and
     * the same logits; names in the files are the architecture's reference names.
     */
    @ParameterizedTest
    @MethodSource("architectures")
    void shardedReferenceCheckpointRoundTrips(Architecture a, @TempDir Path tmp) throws Exception {
        String json = a.smallConfig(40, 16, 2, 2);
        try (Scope s = Scope.open();
                LanguageModel m = a.build(json, 5);
                var off = GradMode.noGrad()) {
            m.module().train(false);
            ReferenceCheckpoint.save(m, tmp.resolve("ck"), null, 4_096);
            assertThat(tmp.resolve("ck").resolve(Safetensors.INDEX_FILE)).isRegularFile();
            try (Safetensors st = Safetensors.open(tmp.resolve("ck"))) {
                assertThat(st.names())
                        .isEqualTo(a.toReference(m.module().stateDict(), json).keySet());
            }
            Tensor ids = LmTestKit.randomIds(7, 2, 11, 40);
            double[] before = m.forward(ids).toDoubleArray();
            try (LanguageModel back = ReferenceCheckpoint.load(tmp.resolve("ck"))) {
                back.module().train(false);
                // config.json as the reference code reads it; it reads back to the same model
                try (LanguageModel again = a.build(a.referenceConfig(m.configJson(), fulgur.tensor.DType.F32), 0)) {
                    assertThat(back.configJson()).isEqualTo(again.configJson());
                }
                var mine = m.module().stateDict();
                back.module()
                        .stateDict()
                        .forEach((name, t) -> assertThat(t.toDoubleArray())
                                .as(name)
                                .containsExactly(mine.get(name).toDoubleArray()));
                // same weights bit for bit; the logits agree to f32 rounding (MoE's scatter-add order is not fixed)
                assertThat(GradCheck.relErr(back.forward(ids).toDoubleArray(), before))
                        .isLessThan(1e-6);
            }
        }
    }

    @Test
    void tnlLearnsTinyShakespeare() {
        Path text = LmTestKit.findShakespeare();
        Architecture tnl = Architectures.byName("tnl");
        try (Scope s = Scope.open();
                LanguageModel m = tnl.build(tnl.smallConfig(257, 32, 2, 2), 1)) {
            double[] losses = LmTestKit.trainShakespeare(m, 20_000, 60, 8, 32, 3e-3);
            double[] fl = LmTestKit.firstLastMeans(losses, 10);
            assertThat(fl[1]).as("last-10 mean vs first-10 mean").isLessThan(0.8 * fl[0]);
        }
    }
}
