package fulgur.models.golden;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import fulgur.autograd.GradMode;
import fulgur.io.Json;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Checkpoints out: a fulgur-made model converted with {@code fulgur convert --to reference} (the committed
 * {@code golden/roundtrip/<arch>/checkpoint}, see {@link RoundTripFixtures}) loads in the reference code with no
 * missing, unexpected or mis-shaped tensor, and the reference computes our logits (f32, 1e-5 relative L2). The
 * reference's side is recorded by scripts/golden (result.json, reference.safetensors).
 */
class GoldenRoundTripTest {

    static Stream<String> archs() {
        return Stream.of(RoundTripFixtures.ARCHS);
    }

    /** The committed converted checkpoints are what the converter writes today (else the reference side is stale). */
    @Test
    void committedConvertedCheckpointsAreCurrent(@TempDir Path tmp) throws Exception {
        if (Boolean.getBoolean("golden.write")) {
            RoundTripFixtures.main(
                    new String[] {Golden.ROOT.resolve("roundtrip").toString()});
        }
        for (String arch : RoundTripFixtures.ARCHS) {
            RoundTripFixtures.write(arch, tmp.resolve(arch));
            Path committed = Golden.dir("roundtrip/" + arch);
            assertThat(Files.readString(committed.resolve("checkpoint/config.json")))
                    .as(arch + " config.json (regenerate: -Dgolden.write=true, then rerun scripts/golden)")
                    .isEqualTo(Files.readString(tmp.resolve(arch).resolve("checkpoint/config.json")));
            try (Scope s = Scope.open()) {
                assertSameTensors(
                        arch + " model.safetensors",
                        Golden.load(committed.resolve("checkpoint/model.safetensors")),
                        Golden.load(tmp.resolve(arch).resolve("checkpoint/model.safetensors")));
                assertSameTensors(
                        arch + " fulgur.safetensors",
                        Golden.load(committed.resolve("fulgur.safetensors")),
                        Golden.load(tmp.resolve(arch).resolve("fulgur.safetensors")));
            }
        }
    }

    @ParameterizedTest
    @MethodSource("archs")
    void referenceLoadsTheConvertedCheckpointWithNoKeyProblems(String arch) throws Exception {
        JsonNode result = result(arch);
        JsonNode info = result.get("loading_info");
        assertThat(info).as(arch + " result.json loading_info").isNotNull();
        List<String> problems = new ArrayList<>();
        info.properties().forEach(e -> {
            if (e.getValue().isArray() && !e.getValue().isEmpty()) {
                problems.add(e.getKey() + ": " + e.getValue());
            }
        });
        assertThat(problems).as("%s: the reference's loading report", arch).isEmpty();
    }

    @ParameterizedTest
    @MethodSource("archs")
    void referenceComputesOurLogits(String arch) throws Exception {
        Path dir = Golden.dir("roundtrip/" + arch);
        try (Scope s = Scope.open();
                LanguageModel m = ReferenceCheckpoint.load(dir.resolve("checkpoint"));
                var off = GradMode.noGrad()) {
            m.module().train(false);
            Map<String, Tensor> ours = Golden.load(dir.resolve("fulgur.safetensors"));
            Map<String, Tensor> theirs = Golden.load(dir.resolve("reference.safetensors"));
            double[] logits = m.forward(Golden.ids(ours.get("input_ids"))).toDoubleArray();
            for (String key : theirs.keySet()) {
                double err = Golden.relL2(logits, theirs.get(key).toDoubleArray());
                System.out.printf("golden roundtrip %s: reference %s vs fulgur rel L2 %.2e%n", arch, key, err);
                assertThat(err).as("%s: reference %s vs ours", arch, key).isLessThan(GoldenParityTest.LOGITS_TOL);
            }
            assertThat(theirs).containsKey("logits");
        }
    }

    private static JsonNode result(String arch) throws Exception {
        Path f = Golden.dir("roundtrip/" + arch).resolve("result.json");
        if (!Files.isRegularFile(f)) {
            throw new AssertionError(
                    f.toAbsolutePath() + " is missing: scripts/golden/make_fixtures.sh records it on a GPU host");
        }
        return Json.mapper().readTree(Files.readString(f));
    }

    private static void assertSameTensors(String what, Map<String, Tensor> a, Map<String, Tensor> b) {
        assertThat(a.keySet()).as(what).isEqualTo(b.keySet());
        a.forEach((k, t) -> {
            assertThat(t.shape()).as(what + " " + k).isEqualTo(b.get(k).shape());
            assertThat(t.toDoubleArray())
                    .as(what + " " + k)
                    .containsExactly(b.get(k).toDoubleArray());
        });
    }
}
