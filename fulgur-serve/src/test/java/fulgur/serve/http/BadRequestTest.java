package fulgur.serve.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import fulgur.serve.FinishReason;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every kind of bad request gets its status and an OpenAI error object naming what was wrong; none gets a stack trace,
 * and the server keeps answering good requests after each.
 */
class BadRequestTest {
    static ScriptedEngine engine;
    static OpenAiServer server;
    static Http http;

    @BeforeAll
    static void start() throws IOException {
        engine = new ScriptedEngine(List.of("o", "k"), FinishReason.STOP);
        server = new OpenAiServer(
                        engine,
                        ChatTemplate.plain(),
                        ServerOptions.defaults().withPort(0).withLimits(1 << 20, 2048, 512, 64))
                .start();
        http = new Http(server.uri());
    }

    @AfterAll
    static void stop() {
        server.close();
        engine.close();
    }

    @AfterEach
    void stillServes() {
        Http.Reply r = http.post(
                "/v1/chat/completions",
                "{\"model\":\"test-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.json().at("/choices/0/message/content").asText()).isEqualTo("ok");
    }

    static JsonNode error(Http.Reply r, int status) {
        assertThat(r.status()).as(r.body()).isEqualTo(status);
        assertThat(r.header("content-type")).startsWith("application/json");
        assertThat(r.body()).doesNotContain("Exception").doesNotContain("\tat ").doesNotContain(".java:");
        JsonNode e = r.json().get("error");
        assertThat(e).as(r.body()).isNotNull();
        assertThat(e.fieldNames()).toIterable().containsExactlyInAnyOrder("message", "type", "param", "code");
        return e;
    }

    /** path | body | status | param | code | a piece of the message */
    @ParameterizedTest(name = "{0} {1} -> {2}")
    @CsvSource(delimiter = '|', quoteCharacter = '`', textBlock = """
        /v1/completions      | {"model": "test-model", "prompt": "hi"                                  | 400 |                      | invalid_json               | could not parse the JSON body
        /v1/completions      | [1, 2]                                                                  | 400 |                      | invalid_type               | must be a JSON object, got an array
        /v1/completions      | `"just a string"`                                                       | 400 |                      | invalid_type               | must be a JSON object, got a string
        /v1/completions      | {"prompt": "hi"}                                                        | 400 | model                | missing_required_parameter | Missing required parameter: 'model'
        /v1/completions      | {"model": 7, "prompt": "hi"}                                            | 400 | model                | invalid_type               | expected a string, but got an integer
        /v1/chat/completions | {"model": "llama", "messages": [{"role": "user", "content": "hi"}]}     | 404 | model                | model_not_found            | The model 'llama' does not exist
        /v1/completions      | {"model": "test-model"}                                                 | 400 | prompt               | missing_required_parameter | 'prompt'
        /v1/completions      | {"model": "test-model", "prompt": []}                                   | 400 | prompt               | invalid_value              | empty array
        /v1/completions      | {"model": "test-model", "prompt": {"text": "hi"}}                       | 400 | prompt               | invalid_type               | got an object
        /v1/completions      | {"model": "test-model", "prompt": [1, 300]}                             | 400 | prompt[1]            | invalid_value              | token id 300 is outside the vocabulary [0, 257)
        /v1/completions      | {"model": "test-model", "prompt": [1, "a"]}                             | 400 | prompt[1]            | invalid_type               | expected a token id
        /v1/completions      | {"model": "test-model", "prompt": "hi", "n": 0}                         | 400 | n                    | invalid_value              | expected a value >= 1, but got 0
        /v1/completions      | {"model": "test-model", "prompt": "hi", "n": 129}                       | 400 | n                    | invalid_value              | expected a value <= 128, but got 129
        /v1/completions      | {"model": "test-model", "prompt": "hi", "n": 100}                       | 400 | n                    | invalid_value              | more than this server's limit of 64 concurrent streams
        /v1/completions      | {"model": "test-model", "prompt": "hi", "n": "2"}                       | 400 | n                    | invalid_type               | expected an integer, but got a string
        /v1/completions      | {"model": "test-model", "prompt": "hi", "n": 1.5}                       | 400 | n                    | invalid_type               | expected an integer, but got a decimal
        /v1/completions      | {"model": "test-model", "prompt": "hi", "temperature": 2.5}             | 400 | temperature          | invalid_value              | expected a value <= 2, but got 2.5
        /v1/completions      | {"model": "test-model", "prompt": "hi", "temperature": -0.1}            | 400 | temperature          | invalid_value              | expected a value >= 0, but got -0.1
        /v1/completions      | {"model": "test-model", "prompt": "hi", "temperature": "hot"}           | 400 | temperature          | invalid_type               | expected a number, but got a string
        /v1/completions      | {"model": "test-model", "prompt": "hi", "top_p": 0}                     | 400 | top_p                | invalid_value              | expected a value > 0, but got 0
        /v1/completions      | {"model": "test-model", "prompt": "hi", "top_p": 1.5}                   | 400 | top_p                | invalid_value              | expected a value <= 1, but got 1.5
        /v1/completions      | {"model": "test-model", "prompt": "hi", "top_k": -2}                    | 400 | top_k                | invalid_value              | expected a value >= -1, but got -2
        /v1/completions      | {"model": "test-model", "prompt": "hi", "max_tokens": 0}                | 400 | max_tokens           | invalid_value              | expected a value >= 1, but got 0
        /v1/completions      | {"model": "test-model", "prompt": "hi", "max_tokens": 513}              | 400 | max_tokens           | invalid_value              | at most 512 tokens per completion, but 513 were requested
        /v1/chat/completions | {"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 9999} | 400 | max_completion_tokens | invalid_value | at most 512 tokens
        /v1/completions      | {"model": "test-model", "prompt": "hi", "seed": "x"}                    | 400 | seed                 | invalid_type               | expected an integer
        /v1/completions      | {"model": "test-model", "prompt": "hi", "stream": "yes"}                | 400 | stream               | invalid_type               | expected a boolean, but got a string
        /v1/completions      | {"model": "test-model", "prompt": "hi", "stop": 5}                      | 400 | stop                 | invalid_type               | expected a string or an array of strings
        /v1/completions      | {"model": "test-model", "prompt": "hi", "stop": ["a","b","c","d","e"]}  | 400 | stop                 | invalid_value              | maximum length 4
        /v1/completions      | {"model": "test-model", "prompt": "hi", "stop": [""]}                   | 400 | stop                 | invalid_value              | must not be empty
        /v1/completions      | {"model": "test-model", "prompt": "hi", "stream_options": {"include_usage": true}} | 400 | stream_options | invalid_value  | only allowed when 'stream' is enabled
        /v1/completions      | {"model": "test-model", "prompt": "hi", "stream": true, "stream_options": {"include_usage": 1}} | 400 | stream_options.include_usage | invalid_type | expected a boolean
        /v1/completions      | {"model": "test-model", "prompt": "hi", "max_token": 5}                 | 400 | max_token            | unknown_parameter          | Unrecognized request argument supplied: max_token
        /v1/completions      | {"model": "test-model", "prompt": "hi", "logprobs": 3}                  | 400 | logprobs             | unsupported_parameter      | 'logprobs' is not supported
        /v1/completions      | {"model": "test-model", "prompt": "hi", "echo": true}                   | 400 | echo                 | unsupported_parameter      | 'echo' is not supported
        /v1/chat/completions | {"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "presence_penalty": 0.5} | 400 | presence_penalty | unsupported_parameter | not supported
        /v1/chat/completions | {"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]} | 400 | tools | unsupported_parameter | not supported
        /v1/chat/completions | {"model": "test-model", "prompt": "hi"}                                  | 400 | prompt               | unknown_parameter          | Unrecognized request argument supplied: prompt
        /v1/chat/completions | {"model": "test-model"}                                                 | 400 | messages             | missing_required_parameter | 'messages'
        /v1/chat/completions | {"model": "test-model", "messages": []}                                 | 400 | messages             | empty_array                | Expected an array with minimum length 1
        /v1/chat/completions | {"model": "test-model", "messages": "hi"}                               | 400 | messages             | invalid_type               | expected an array, but got a string
        /v1/chat/completions | {"model": "test-model", "messages": ["hi"]}                             | 400 | messages[0]          | invalid_type               | expected an object
        /v1/chat/completions | {"model": "test-model", "messages": [{"content": "hi"}]}                | 400 | messages[0].role     | missing_required_parameter | 'messages[0].role'
        /v1/chat/completions | {"model": "test-model", "messages": [{"role": "wizard", "content": "hi"}]} | 400 | messages[0].role   | invalid_value              | Invalid value: 'wizard'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.
        /v1/chat/completions | {"model": "test-model", "messages": [{"role": "user"}]}                 | 400 | messages[0].content  | missing_required_parameter | 'messages[0].content'
        /v1/chat/completions | {"model": "test-model", "messages": [{"role": "user", "content": 5}]}   | 400 | messages[0].content  | invalid_type               | expected a string or an array of content parts
        /v1/chat/completions | {"model": "test-model", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]} | 400 | messages[0].content[0].type | invalid_value | only 'text' content parts are supported
        """)
    void isRefusedWithItsReason(String path, String body, int status, String param, String code, String message) {
        JsonNode e = error(http.post(path, body), status);
        assertThat(e.get("type").asText()).isEqualTo("invalid_request_error");
        assertThat(e.get("code").asText()).isEqualTo(code);
        if (param == null) {
            assertThat(e.get("param").isNull()).isTrue();
        } else {
            assertThat(e.get("param").asText()).isEqualTo(param);
        }
        assertThat(e.get("message").asText()).contains(message);
        assertThat(engine.submitted).isEmpty();
    }

    @BeforeEach
    void forgetSubmissions() {
        engine.submitted.clear();
    }

    @Test
    void emptyBody() {
        JsonNode e = error(http.post("/v1/completions", ""), 400);
        assertThat(e.get("message").asText()).contains("no body");
    }

    @Test
    void unknownUrlsAndWrongMethods() {
        JsonNode e = error(http.get("/v1/embeddings"), 404);
        assertThat(e.get("code").asText()).isEqualTo("unknown_url");
        assertThat(e.get("message").asText()).isEqualTo("Unknown request URL: GET /v1/embeddings.");
        assertThat(error(http.get("/favicon.ico"), 404).get("code").asText()).isEqualTo("unknown_url");
        Http.Reply wrong = http.get("/v1/chat/completions");
        assertThat(error(wrong, 405).get("message").asText())
                .contains("Method GET is not allowed on /v1/chat/completions (use POST)");
        assertThat(wrong.header("allow")).isEqualTo("POST");
        assertThat(error(http.post("/v1/models", "{}"), 405).get("code").asText())
                .isEqualTo("method_not_allowed");
        assertThat(error(http.get("/v1/models/other"), 404).get("code").asText())
                .isEqualTo("model_not_found");
        assertThat(http.get("/v1/models/test-model").json().get("id").asText()).isEqualTo("test-model");
    }

    @Test
    void malformedHttpGetsAJsonErrorToo() throws Exception {
        try (java.net.Socket s = new java.net.Socket("127.0.0.1", server.port())) {
            s.getOutputStream()
                    .write("GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n"
                            .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            String reply = new String(s.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            assertThat(reply)
                    .startsWith("HTTP/1.1 400")
                    .contains("application/json")
                    .contains("{\"error\":{")
                    .doesNotContain("<html");
        }
    }

    @Test
    void anEngineThatFailsGivesA500WithoutDetailsAndTheServerGoesOn() {
        engine.crash = new NullPointerException("secret internal detail");
        try {
            JsonNode e = error(http.post("/v1/completions", "{\"model\":\"test-model\",\"prompt\":\"hi\"}"), 500);
            assertThat(e.get("type").asText()).isEqualTo("server_error");
            assertThat(e.get("message").asText()).doesNotContain("secret").contains("internal error");
        } finally {
            engine.crash = null;
        }
    }

    @Test
    void aGenerationErrorMidStreamIsAnErrorEventThenDone() {
        engine.failWith = "the device ran out of memory";
        try {
            Http.Reply r = http.post("/v1/completions", "{\"model\":\"test-model\",\"prompt\":\"hi\",\"stream\":true}");
            assertThat(r.status()).isEqualTo(200);
            List<String> events = r.events();
            assertThat(events).hasSize(3);
            assertThat(Http.json(events.getFirst()).at("/choices/0/text").asText())
                    .isEqualTo("o");
            assertThat(events.getLast()).isEqualTo("[DONE]");
            JsonNode err = Http.json(events.get(events.size() - 2)).get("error");
            assertThat(err.get("message").asText()).isEqualTo("the device ran out of memory");
            assertThat(err.get("type").asText()).isEqualTo("server_error");
            JsonNode e = error(http.post("/v1/completions", "{\"model\":\"test-model\",\"prompt\":\"hi\"}"), 500);
            assertThat(e.get("message").asText()).contains("the device ran out of memory");
        } finally {
            engine.failWith = null;
        }
    }
}
