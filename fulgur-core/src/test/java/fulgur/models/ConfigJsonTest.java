package fulgur.models;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.models.tnl.TnlConfig;
import org.junit.jupiter.api.Test;

/** config.json values are read as written or refused, never converted silently. */
class ConfigJsonTest {

    private static final String BASE =
            "\"model_type\":\"transnormer\",\"vocab_size\":300,\"decoder_layers\":1,\"decoder_attention_heads\":2,"
                    + "\"hidden_dim\":32,\"glu_dim\":64";

    @Test
    void aFractionalOrTextualSizeIsRefusedNamingTheField() {
        assertThatThrownBy(() -> TnlConfig.parse("{" + BASE + ",\"decoder_embed_dim\":32.5}"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage(
                        "malformed TransNormerLLM config: field \"decoder_embed_dim\": Cannot coerce Floating-point value (32.5) to `int` value");
        assertThatThrownBy(() -> TnlConfig.parse("{" + BASE + ",\"decoder_embed_dim\":\"32\"}"))
                .hasMessageContaining("field \"decoder_embed_dim\"")
                .hasMessageContaining("String value (\"32\")");
        assertThatThrownBy(() -> TnlConfig.parse("{" + BASE + ",\"decoder_embed_dim\":3000000000}"))
                .hasMessageContaining("field \"decoder_embed_dim\"")
                .hasMessageContaining("(3000000000) out of range of int");
        assertThatThrownBy(() -> TnlConfig.parse("{" + BASE + ",\"decoder_embed_dim\":32,\"bias\":\"\"}"))
                .hasMessageContaining("field \"bias\"");
        assertThatThrownBy(() -> TnlConfig.parse("{" + BASE + ",\"decoder_embed_dim\":32,\"decoder_embed_dim\":64}"))
                .hasMessageContaining("Duplicate field 'decoder_embed_dim'");
        assertThat(TnlConfig.parse("{" + BASE + ",\"decoder_embed_dim\":32,\"init_std\":1,\"architectures\":[\"x\"]}")
                        .embedDim())
                .isEqualTo(32);
    }
}
