package fulgur.models;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import fulgur.io.Json;
import fulgur.models.tnl.TnlConfig;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A config.json that omits a field the reference code defaults gets the reference default, never 0. */
class ReferenceDefaultsTest {

    @Test
    void everyArchitectureInitialisesItsWeightsWithoutAnInitField() throws IOException {
        for (Architecture a : Architectures.all()) {
            ObjectNode n = (ObjectNode) Json.mapper().readTree(a.smallConfig(64, 32, 2, 2));
            n.remove(List.of("init_std", "initializer_range"));
            try (LanguageModel m = a.build(n.toString(), 7)) {
                m.module().namedParameters().forEach((name, p) -> {
                    if (p.value().shape().length == 2 && name.endsWith("weight")) {
                        float[] w = p.value().toFloatArray();
                        double sq = 0;
                        for (float x : w) {
                            sq += (double) x * x;
                        }
                        assertThat(Math.sqrt(sq / w.length))
                                .as(a.name() + " " + name + " without an init field")
                                .isGreaterThan(1e-3);
                    }
                });
            }
        }
    }

    @Test
    void transNormerTakesTheOfficialDefaults() {
        TnlConfig c = TnlConfig.parse("{\"model_type\": \"transnormer\"}");
        assertThat(c.initStd()).isEqualTo(0.02);
        assertThat(c.vocabSize()).isEqualTo(64000);
        assertThat(c.embedDim()).isEqualTo(1024);
        assertThat(c.layers()).isEqualTo(24);
        assertThat(c.heads()).isEqualTo(8);
        assertThat(c.hiddenDim()).isEqualTo(1024);
        assertThat(c.gluDim()).isEqualTo(2816);
        TnlConfig given = TnlConfig.parse(
                "{\"decoder_embed_dim\": 64, \"hidden_dim\": 64, \"glu_dim\": 128, \"init_std\": 0.05, \"vocab_size\": 300}");
        assertThat(given.initStd()).isEqualTo(0.05);
        assertThat(given.gluDim()).isEqualTo(128);
    }
}
