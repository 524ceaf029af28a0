package fulgur.serve.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.core.type.TypeReference;
import fulgur.serve.FinishReason;
import fulgur.serve.GenerationRequest;
import fulgur.tokenizer.ByteTokenizer;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Chat templates of known model families (Llama 3, ChatML as Qwen2 has it, Mistral, Zephyr), stored as their
 * tokenizer_config.json, rendered here and compared with what Hugging Face's renderer (Python Jinja2 with trim_blocks
 * and lstrip_blocks) gives for the same conversations (the .txt files beside them).
 */
class ChatTemplateTest {

    static Path dir(String family) throws URISyntaxException {
        return Path.of(ChatTemplateTest.class
                        .getResource("/chat/" + family + "/tokenizer_config.json")
                        .toURI())
                .getParent();
    }

    static List<Map<String, Object>> conversation(String name) throws Exception {
        Map<String, List<Map<String, Object>>> all = Http.MAPPER.readValue(
                ChatTemplateTest.class.getResourceAsStream("/chat/conversations.json"), new TypeReference<>() {});
        return all.get(name);
    }

    @ParameterizedTest(name = "{0} {1} add_generation_prompt={2}")
    @CsvSource({
        "llama3, with-system, true", "llama3, with-system, false", "llama3, user-only, true",
                "llama3, user-only, false",
        "chatml, with-system, true", "chatml, with-system, false", "chatml, user-only, true",
                "chatml, user-only, false",
        "zephyr, with-system, true", "zephyr, with-system, false", "zephyr, alternating, true",
                "zephyr, alternating, false",
        "mistral, alternating, true", "mistral, alternating, false"
    })
    void rendersAsTransformersDoes(String family, String conversation, boolean addGenerationPrompt) throws Exception {
        ChatTemplate t = ChatTemplate.forModelDir(dir(family));
        String expected = Files.readString(
                dir(family).resolve(conversation + (addGenerationPrompt ? "" : "-no-prompt") + ".txt"));
        assertThat(t.render(conversation(conversation), addGenerationPrompt)).isEqualTo(expected);
    }

    @Test
    void readsSpecialTokensWrittenAsStringsOrObjects() throws Exception {
        ChatTemplate llama = ChatTemplate.forModelDir(dir("llama3"));
        assertThat(llama.bosToken()).isEqualTo("<|begin_of_text|>");
        assertThat(llama.eosToken()).isEqualTo("<|eot_id|>");
        ChatTemplate mistral = ChatTemplate.forModelDir(dir("mistral"));
        assertThat(mistral.bosToken()).isEqualTo("<s>");
        assertThat(ChatTemplate.forModelDir(dir("chatml")).bosToken()).isEmpty();
    }

    @Test
    void aTemplateThatRefusesAConversationSaysWhy() throws Exception {
        ChatTemplate mistral = ChatTemplate.forModelDir(dir("mistral"));
        assertThatThrownBy(() -> mistral.render(conversation("with-system"), true))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("Conversation roles must alternate user/assistant/user/assistant/...");
        assertThatThrownBy(() -> new ChatTemplate("{% for m in messages %}{{ m.content ", "", "")
                        .render(conversation("user-only"), true))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("chat template error");
    }

    @Test
    void modelsWithoutATemplateGetThePlainOne(@TempDir Path tmp) throws Exception {
        assertThat(ChatTemplate.forModelDir(tmp).source()).isEqualTo(ChatTemplate.PLAIN);
        assertThat(ChatTemplate.plain().render(conversation("alternating"), true))
                .isEqualTo("user: Hi\nassistant: Hello! How can I help?\nuser: Tell me a joke.\nassistant:");
        Files.writeString(tmp.resolve("tokenizer_config.json"), "{\"eos_token\": \"</s>\"}");
        assertThat(ChatTemplate.forModelDir(tmp).source()).isEqualTo(ChatTemplate.PLAIN);
        assertThat(ChatTemplate.forModelDir(tmp).eosToken()).isEqualTo("</s>");
        // a training run's checkpoint directory finds the template beside it
        Files.createDirectories(tmp.resolve("checkpoint"));
        Files.writeString(tmp.resolve("chat_template.jinja"), "{{ messages[0]['content'] }}!");
        assertThat(ChatTemplate.forModelDir(tmp.resolve("checkpoint")).render(conversation("user-only"), true))
                .isEqualTo("Hello there!");
        Files.writeString(tmp.resolve("tokenizer_config.json"), "{\"chat_template\": 5}");
        Files.delete(tmp.resolve("chat_template.jinja"));
        assertThatThrownBy(() -> ChatTemplate.forModelDir(tmp)).hasMessageContaining("chat_template must be a string");
    }

    @Test
    void theServerPromptsTheEngineWithTheRenderedTemplateAndStopsAtTheTurnEnd() throws Exception {
        var tok = new ByteTokenizer(List.of(
                ByteTokenizer.END_OF_TEXT,
                "<|begin_of_text|>",
                "<|start_header_id|>",
                "<|end_header_id|>",
                "<|eot_id|>"));
        ScriptedEngine engine = new ScriptedEngine(List.of("4"), FinishReason.STOP, tok);
        try (OpenAiServer server = new OpenAiServer(
                        engine,
                        ChatTemplate.forModelDir(dir("llama3")),
                        ServerOptions.defaults().withPort(0))
                .start()) {
            String body = Http.MAPPER.writeValueAsString(
                    Map.of("model", "test-model", "messages", conversation("with-system"), "stop", "###"));
            Http.Reply r = new Http(server.uri()).post("/v1/chat/completions", body);
            assertThat(r.status()).as(r.body()).isEqualTo(200);
            GenerationRequest sent = engine.submitted.getFirst();
            assertThat(tok.decode(sent.prompt()))
                    .isEqualTo(Files.readString(dir("llama3").resolve("with-system.txt")));
            assertThat(sent.prompt()[0])
                    .as("the BOS written by the template is the BOS token")
                    .isEqualTo(tok.bosId().getAsInt());
            assertThat(sent.stop()).containsExactly("###", "<|eot_id|>");
            assertThat(r.json().at("/usage/prompt_tokens").asInt()).isEqualTo(sent.prompt().length);
        } finally {
            engine.close();
        }
    }
}
