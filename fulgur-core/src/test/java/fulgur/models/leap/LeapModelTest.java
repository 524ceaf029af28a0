package fulgur.models.leap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import fulgur.avvp.AvvpBatch;
import fulgur.avvp.AvvpDataset;
import fulgur.avvp.AvvpPrediction;
import fulgur.avvp.AvvpVideo;
import fulgur.avvp.SyntheticAvvp;
import fulgur.nn.Parameter;
import fulgur.ops.LinearAlgebra;
import fulgur.ops.Norms;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import fulgur.testing.ScopedTest;
import fulgur.train.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LeapModelTest extends ScopedTest {

    /** 4 classes, 4 segments, features of 5, 6 and 4 values. */
    static SyntheticAvvp task() {
        return new SyntheticAvvp(new SyntheticAvvp.Settings(11, 4, 4, 5, 6, 4, 8, 4, 4, 0.5, 0.5, 1.0, 0.15, 0.05));
    }

    /** A tiny config; {@code extra} (", \"field\": value, ...") adds fields or replaces them (a config.json names each field once). */
    static LeapConfig tiny(SyntheticAvvp task, String extra) {
        String json =
                "{\"hidden_size\": 8, \"encoder_heads\": 2, \"encoder_ffn_dim\": 10, \"decoder_layers\": 2, \"decoder_heads\": 2, "
                        + "\"decoder_ffn_dim\": 12, \"label_dim\": 3}";
        try {
            var n = (com.fasterxml.jackson.databind.node.ObjectNode)
                    fulgur.io.Json.mapper().readTree(json);
            if (!extra.isEmpty()) {
                n.setAll((com.fasterxml.jackson.databind.node.ObjectNode)
                        fulgur.io.Json.mapper().readTree("{" + extra.substring(1) + "}"));
            }
            json = n.toString();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return LeapConfig.parse(json)
                .withTask(task.classes().names(), task.settings().dims());
    }

    static AvvpBatch batch(AvvpDataset set, int n) {
        List<AvvpVideo> v = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            v.add(set.get(i));
        }
        return AvvpBatch.of(v);
    }

    @Test
    void producesVideoAndSegmentLogitsOfTheRightShapes() {
        SyntheticAvvp task = task();
        try (LeapModel m = new LeapModel(tiny(task, ""), 1)) {
            LeapOutput o = m.forward(batch(task.split(SyntheticAvvp.Split.TRAIN), 3));
            assertThat(o.audioFeatures().shape()).containsExactly(3, 4, 8);
            assertThat(o.visualFeatures().shape()).containsExactly(3, 4, 8);
            assertThat(o.audioVideoLogits().shape()).containsExactly(3, 4);
            assertThat(o.visualVideoLogits().shape()).containsExactly(3, 4);
            assertThat(o.audioSegmentLogits().shape()).containsExactly(3, 4, 4);
            assertThat(o.visualSegmentLogits().shape()).containsExactly(3, 4, 4);
            assertThat(m.loss(batch(task.split(SyntheticAvvp.Split.TRAIN), 3)).keySet())
                    .containsExactly("loss", "video", "global", "segment", "avss");
        }
    }

    /** With one LEAP layer, P = (Q Kᵀ)/(H √d_head) for Q = q_proj(LN(fc_l(E))) and K = k_proj(F): the mean of the heads' scores. */
    @Test
    void segmentLogitsAreTheLastLayersScoresAveragedOverHeads() {
        SyntheticAvvp task = task();
        LeapConfig c = LeapConfig.parse(tiny(task, ", \"decoder_layers\": 1").toJson());
        try (LeapModel m = new LeapModel(c, 2)) {
            m.train(false);
            LeapOutput o = m.forward(batch(task.split(SyntheticAvvp.Split.VAL), 2));
            Map<String, Parameter> p = m.namedParameters();
            for (String mod : new String[] {"a", "v"}) {
                String at = "decoder_" + mod + ".layers.0.";
                Tensor labels = LinearAlgebra.linear(
                        p.get("label_embeddings").value(),
                        p.get("fc_l.weight").value(),
                        p.get("fc_l.bias").value());
                Tensor normed = Norms.layerNorm(
                        labels,
                        p.get(at + "norm1.weight").value(),
                        p.get(at + "norm1.bias").value(),
                        c.layerNormEps());
                Tensor q = LinearAlgebra.linear(
                        normed,
                        p.get(at + "attn.q_proj.weight").value(),
                        p.get(at + "attn.q_proj.bias").value());
                Tensor f = mod.equals("a") ? o.audioFeatures() : o.visualFeatures();
                Tensor k = LinearAlgebra.linear(
                        f,
                        p.get(at + "attn.k_proj.weight").value(),
                        p.get(at + "attn.k_proj.bias").value());
                Tensor expected = LinearAlgebra.matmul(k, q, false, true).mul(1 / (2 * Math.sqrt(4))); // [B, T, C]
                Tensor got = mod.equals("a") ? o.audioSegmentLogits() : o.visualSegmentLogits();
                assertThat(got.toFloatArray()).containsExactly(expected.toFloatArray(), within(1e-5f));
            }
        }
        // the released code's variant projects the residual-updated labels again: other scores, same shapes
        LeapConfig updated = LeapConfig.parse(
                tiny(task, ", \"segment_scores\": \"updated_queries\"").toJson());
        try (LeapModel a = new LeapModel(tiny(task, ""), 2);
                LeapModel b = new LeapModel(updated, 2)) {
            a.train(false);
            b.train(false);
            AvvpBatch x = batch(task.split(SyntheticAvvp.Split.VAL), 2);
            float[] pa = a.forward(x).audioSegmentLogits().toFloatArray();
            float[] pb = b.forward(x).audioSegmentLogits().toFloatArray();
            assertThat(pb).hasSameSizeAs(pa).isNotEqualTo(pa);
            assertThat(a.forward(x).audioVideoLogits().toFloatArray())
                    .containsExactly(b.forward(x).audioVideoLogits().toFloatArray());
        }
    }

    @Test
    void lossGradientsMatchFiniteDifferencesInF64() {
        SyntheticAvvp task = task();
        try (LeapModel m = new LeapModel(tiny(task, ""), 3)) {
            m.train(false);
            m.to(DType.F64);
            AvvpBatch b = batch(task.split(SyntheticAvvp.Split.TRAIN), 2);
            Map<String, Parameter> p = m.namedParameters();
            GradCheck.check(
                    x -> m.loss(b).get("loss"),
                    1e-6,
                    1e-5,
                    p.get("fc_a.weight").value(),
                    p.get("fc_st.bias").value(),
                    p.get("encoder.layers.0.cm_attn.q_proj.weight").value(),
                    p.get("encoder.layers.0.ffn.linear1.bias").value(),
                    p.get("encoder.layers.0.norm2.bias").value(),
                    p.get("decoder_a.layers.1.attn.k_proj.weight").value(),
                    p.get("decoder_v.layers.0.norm1.weight").value(),
                    p.get("decoder_v.layers.1.ffn.linear2.bias").value(),
                    p.get("fc_l.weight").value(),
                    p.get("label_embeddings").value(),
                    p.get("fc_lv.bias").value());
        }
    }

    @Test
    void givenLabelEmbeddingsStayFixedAndTravelWithTheWeights(@TempDir Path dir) throws Exception {
        SyntheticAvvp task = task();
        LeapConfig c = tiny(task, ", \"label_embeddings\": \"fixed\"");
        try (LeapModel m = new LeapModel(c, 4)) {
            float[] e = new float[4 * 3];
            for (int i = 0; i < e.length; i++) {
                e[i] = i * 0.1f - 0.5f;
            }
            m.setLabelEmbeddings(new LabelEmbeddings(4, 3, e));
            assertThat(m.trainableParameters())
                    .doesNotContainKey("label_embeddings")
                    .containsKey("fc_l.weight");
            m.loss(batch(task.split(SyntheticAvvp.Split.TRAIN), 2)).get("loss").backward();
            assertThat(m.namedParameters().get("label_embeddings").grad()).isNull();
            assertThat(m.namedParameters().get("fc_l.weight").grad()).isNotNull();
            Checkpoint.save(dir.resolve("checkpoint"), m.stateDict(), m.configJson(), null, Map.of("step", 0));
            try (LeapModel back = LeapModel.load(dir)) {
                assertThat(back.namedParameters()
                                .get("label_embeddings")
                                .value()
                                .toFloatArray())
                        .containsExactly(e);
            }
            assertThatThrownBy(() -> m.setLabelEmbeddings(new LabelEmbeddings(4, 2, new float[8])))
                    .hasMessageContaining("label_dim 3");
        }
    }

    @Test
    void aCheckpointRoundTripPredictsTheSame(@TempDir Path dir) throws Exception {
        SyntheticAvvp task = task();
        AvvpBatch b = batch(task.split(SyntheticAvvp.Split.TEST), 4);
        try (LeapModel m = new LeapModel(tiny(task, ""), 5)) {
            m.train(false);
            AvvpPrediction before = m.predict(b);
            Checkpoint.save(dir.resolve("checkpoint"), m.stateDict(), m.configJson(), null, Map.of("step", 0));
            assertThat(dir.resolve("checkpoint").resolve("model.safetensors")).exists();
            assertThat(Files.readString(dir.resolve("checkpoint").resolve("config.json")))
                    .contains("\"model_type\" : \"leap\"");
            try (LeapModel back = LeapModel.load(dir)) {
                back.train(false);
                assertThat(back.configJson()).isEqualTo(m.configJson());
                AvvpPrediction after = back.predict(b);
                assertThat(after.audioSegments()).containsExactly(before.audioSegments());
                assertThat(after.visualVideo()).containsExactly(before.visualVideo());
            }
        }
        assertThatThrownBy(() -> LeapModel.load(dir.resolve("nothing"))).hasMessageContaining("no LEAP model at");
    }

    @Test
    void misshapenInputsAndConfigsAreNamed() {
        SyntheticAvvp task = task();
        try (LeapModel m = new LeapModel(tiny(task, ""), 6)) {
            Tensor ok = Tensor.zeros(2, 4, 6);
            assertThatThrownBy(() -> m.forward(Tensor.zeros(2, 4, 7), ok, Tensor.zeros(2, 4, 4)))
                    .hasMessage("LEAP: expected audio features [videos, segments, 5], got "
                            + Tensor.zeros(2, 4, 7).describe());
            assertThatThrownBy(() -> m.forward(Tensor.zeros(2, 4, 5), ok, Tensor.zeros(2, 3, 4)))
                    .hasMessageContaining("differ in videos or segments");
            SyntheticAvvp other =
                    new SyntheticAvvp(new SyntheticAvvp.Settings(1, 5, 4, 5, 6, 4, 2, 1, 1, 0.5, 0.5, 1, 0.1, 0.1));
            assertThatThrownBy(() -> m.loss(batch(other.split(SyntheticAvvp.Split.TRAIN), 2)))
                    .hasMessageContaining("cannot read videos of 5 classes");
        }
        assertThatThrownBy(
                        () -> LeapConfig.parse(
                                "{\"hidden_size\": 10, \"decoder_heads\": 4, \"avss_target\": \"union\", \"encoder_type\": \"mmpyr\"}"))
                .hasMessageContaining("hidden_size 10 is not divisible by decoder_heads 4")
                .hasMessageContaining("avss_target 'union' is not supported")
                .hasMessageContaining("encoder_type 'mmpyr' is not supported");
    }
}
