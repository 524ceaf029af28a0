package fulgur.models.hf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.io.safetensors.Safetensors;
import fulgur.io.safetensors.TensorIo;
import fulgur.models.LanguageModel;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReferenceCheckpointTest {

    static final TnlConfig CONFIG =
            TnlConfig.small(40, 16, 2, 2).withTiedEmbeddings(false).withLrpe(List.of(1, 0));

    static void assertSameWeights(LanguageModel a, LanguageModel b, double tol) {
        Map<String, Tensor> sa = a.module().stateDict();
        Map<String, Tensor> sb = b.module().stateDict();
        assertThat(sb.keySet()).isEqualTo(sa.keySet());
        for (String k : sa.keySet()) {
            float[] x = sa.get(k).toFloatArray();
            float[] y = sb.get(k).toFloatArray();
            for (int i = 0; i < x.length; i++) {
                assertThat((double) y[i])
                        .as(k + "[" + i + "]")
                        .isCloseTo(x[i], org.assertj.core.data.Offset.offset(tol * Math.max(1, Math.abs(x[i]))));
            }
        }
    }

    @Test
    void savesShardedInBf16AndSingleInF32AndLoadsBack(@TempDir Path tmp) throws Exception {
        try (Scope s = Scope.open();
                TnlModel m = new TnlModel(CONFIG, 7)) {
            Path sharded = tmp.resolve("sharded");
            ReferenceCheckpoint.save(m, sharded, DType.BF16, 4_000);
            assertThat(sharded.resolve(Safetensors.INDEX_FILE)).isRegularFile();
            try (Safetensors st = Safetensors.open(sharded)) {
                assertThat(st.names()).isEqualTo(m.namedParameters().keySet());
                assertThat(st.entries()).allSatisfy(e -> assertThat(e.dtype()).isEqualTo("BF16"));
            }
            try (var files = Files.list(sharded)) {
                assertThat(files.filter(f -> f.getFileName().toString().matches("model-\\d{5}-of-\\d{5}\\.safetensors"))
                                .count())
                        .isGreaterThan(1);
            }
            try (LanguageModel back = ReferenceCheckpoint.load(sharded)) {
                // the reference config adds the official code's fields (token ids, class names), which read back
                assertThat(back.configJson())
                        .isEqualTo(TnlConfig.parse(new fulgur.models.tnl.TnlArchitecture()
                                        .referenceConfig(m.configJson(), DType.BF16))
                                .toJson());
                assertSameWeights(m, back, 1.0 / 128); // bf16 keeps 8 significant bits
            }
            Path single = tmp.resolve("single");
            ReferenceCheckpoint.save(m, single, null, Long.MAX_VALUE);
            assertThat(single.resolve(Safetensors.SINGLE_FILE)).isRegularFile();
            assertThat(single.resolve(Safetensors.INDEX_FILE)).doesNotExist();
            try (LanguageModel back = ReferenceCheckpoint.load(single)) {
                assertSameWeights(m, back, 0);
            }
        }
    }

    @Test
    void missingExtraAndMisShapedTensorsAreListedTogether(@TempDir Path tmp) throws Exception {
        try (Scope s = Scope.open();
                TnlModel m = new TnlModel(CONFIG, 7)) {
            Map<String, Tensor> w = new LinkedHashMap<>(m.stateDict());
            w.remove("model.layers.1.token_mixer.out_proj.weight");
            w.put("model.layers.0.channel_mixer.l1.weight", Tensor.zeros(DType.F32, 3, 3));
            w.put("model.layers.0.attn.rotary.inv_freq", Tensor.zeros(DType.F32, 4));
            Files.createDirectories(tmp.resolve("bad"));
            TensorIo.save(tmp.resolve("bad").resolve(Safetensors.SINGLE_FILE), w, Map.of());
            Files.writeString(tmp.resolve("bad").resolve(ReferenceCheckpoint.CONFIG), m.configJson());
            assertThatThrownBy(() -> ReferenceCheckpoint.load(tmp.resolve("bad")))
                    .hasMessageContaining("missing: model.layers.1.token_mixer.out_proj.weight")
                    .hasMessageContaining("unexpected: model.layers.0.attn.rotary.inv_freq")
                    .hasMessageContaining("mis-shaped: model.layers.0.channel_mixer.l1.weight");
        }
    }

    @Test
    void badDirectoriesAreNamed(@TempDir Path tmp) throws Exception {
        assertThatThrownBy(() -> ReferenceCheckpoint.load(tmp.resolve("none"))).hasMessageContaining("not a directory");
        assertThatThrownBy(() -> ReferenceCheckpoint.load(tmp)).hasMessageContaining("no config.json");
        Files.writeString(tmp.resolve(ReferenceCheckpoint.CONFIG), CONFIG.toJson());
        assertThatThrownBy(() -> ReferenceCheckpoint.load(tmp))
                .hasMessageContaining("neither " + Safetensors.INDEX_FILE);
        Files.writeString(tmp.resolve(ReferenceCheckpoint.CONFIG), "{\"model_type\": \"bert\"}");
        assertThatThrownBy(() -> ReferenceCheckpoint.load(tmp)).hasMessageContaining("model_type 'bert'");
    }

    @Test
    void aFailedSaveLeavesTheOldDirectory(@TempDir Path tmp) throws Exception {
        try (Scope s = Scope.open();
                TnlModel m = new TnlModel(CONFIG, 7)) {
            Path dir = tmp.resolve("ck");
            ReferenceCheckpoint.save(m, dir, null, Long.MAX_VALUE);
            assertThatThrownBy(() -> ReferenceCheckpoint.save(m, dir, null, 0))
                    .isInstanceOf(IllegalArgumentException.class);
            try (LanguageModel back = ReferenceCheckpoint.load(dir)) {
                assertSameWeights(m, back, 0);
            }
        }
    }
}
