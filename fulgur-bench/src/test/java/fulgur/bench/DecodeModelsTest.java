package fulgur.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import fulgur.io.Json;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ModelDirectory;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DecodeModelsTest {

    @Test
    void writesHuggingFaceDirectoriesThatLoadBackWithTheirTokenizer(@TempDir Path dir) throws Exception {
        DecodeModels shape = new DecodeModels(400, 32, 2, 4);
        Path[] dirs = shape.write(dir, 1);
        assertThat(dirs[0].getFileName()).hasToString("tnl");
        assertThat(dirs[1].getFileName()).hasToString("llama");
        JsonNode llama = Json.read(dirs[1].resolve("config.json"));
        // what a Llama reader needs: model type, shape, GQA, positions, BOS/EOS, tied head (no lm_head tensor)
        assertThat(llama.get("model_type").asText()).isEqualTo("llama");
        assertThat(llama.get("hidden_size").asInt()).isEqualTo(32);
        assertThat(llama.get("num_key_value_heads").asInt()).isEqualTo(2);
        assertThat(llama.get("max_position_embeddings").asInt()).isEqualTo(DecodeModels.MAX_POSITIONS);
        assertThat(llama.get("bos_token_id").asInt()).isEqualTo(CharTokenizerJson.BOS);
        assertThat(llama.get("eos_token_id").asInt()).isEqualTo(CharTokenizerJson.EOS);
        assertThat(llama.get("tie_word_embeddings").asBoolean()).isTrue();
        String header = new String(
                Files.readAllBytes(dirs[1].resolve("model.safetensors")),
                0,
                4096,
                java.nio.charset.StandardCharsets.ISO_8859_1);
        assertThat(header).contains("model.layers.0.self_attn.q_proj.weight").doesNotContain("lm_head");
        for (Path d : dirs) {
            try (LanguageModel m = ReferenceCheckpoint.load(d)) {
                assertThat(m.vocabSize()).isEqualTo(400);
                Tokenizer tok = ModelDirectory.tokenizer(d);
                int[] prompt = DecodeSpeed.prompt(tok, 5, 64, m.vocabSize());
                assertThat(prompt).hasSize(64);
                assertThat(prompt[0]).isEqualTo(CharTokenizerJson.BOS);
                assertThat(java.util.Arrays.stream(prompt).allMatch(id -> id >= 0 && id < 400))
                        .isTrue();
            }
        }
    }

    @Test
    void aSecondWriteOfTheSameShapeKeepsTheFiles(@TempDir Path dir) throws Exception {
        DecodeModels shape = new DecodeModels(400, 32, 1, 2);
        Path[] dirs = shape.write(dir, 1);
        var before = Files.getLastModifiedTime(dirs[0].resolve("model.safetensors"));
        Thread.sleep(20);
        shape.write(dir, 1);
        assertThat(Files.getLastModifiedTime(dirs[0].resolve("model.safetensors")))
                .isEqualTo(before);
        // another shape replaces them
        new DecodeModels(400, 32, 2, 2).write(dir, 1);
        assertThat(Json.read(dirs[0].resolve("config.json"))
                        .get("decoder_layers")
                        .asInt())
                .isEqualTo(2);
    }
}
