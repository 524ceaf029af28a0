package fulgur.serve.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import fulgur.serve.FinishReason;
import java.util.List;

/** The JSON objects of the OpenAI API, field for field, that the server answers with. */
final class OpenAiJson {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private OpenAiJson() {}

    /** The endpoint a response belongs to: its object names and choice layout. */
    enum Kind {
        TEXT("text_completion", "text_completion", "cmpl-"),
        CHAT("chat.completion", "chat.completion.chunk", "chatcmpl-");

        final String object;
        final String chunkObject;
        final String idPrefix;

        Kind(String object, String chunkObject, String idPrefix) {
            this.object = object;
            this.chunkObject = chunkObject;
            this.idPrefix = idPrefix;
        }
    }

    /** One finished choice. */
    record Choice(int index, String text, FinishReason reason) {}

    /** Token counts of a whole request. */
    record Totals(long promptTokens, long completionTokens, long cachedPromptTokens) {}

    static ObjectNode error(ApiException e) {
        ObjectNode err = F.objectNode();
        err.put("message", e.getMessage());
        err.put("type", e.type);
        err.put("param", e.param);
        err.put("code", e.code);
        ObjectNode root = F.objectNode();
        root.set("error", err);
        return root;
    }

    static ObjectNode response(Kind kind, String id, long created, String model, List<Choice> choices, Totals totals) {
        ObjectNode root = header(kind.object, id, created, model);
        ArrayNode arr = root.putArray("choices");
        for (Choice c : choices) {
            ObjectNode o = arr.addObject();
            if (kind == Kind.TEXT) {
                o.put("text", c.text());
                o.put("index", c.index());
            } else {
                o.put("index", c.index());
                ObjectNode m = o.putObject("message");
                m.put("role", "assistant");
                m.put("content", c.text());
                m.putNull("refusal");
            }
            o.putNull("logprobs");
            o.put("finish_reason", c.reason().openAiName());
        }
        root.set("usage", usage(kind, totals));
        return root;
    }

    /** A streamed piece of one choice's text. */
    static ObjectNode textChunk(
            Kind kind, String id, long created, String model, int index, String text, boolean usageField) {
        ObjectNode delta = F.objectNode();
        delta.put("content", text);
        return chunk(kind, id, created, model, index, text, delta, null, usageField);
    }

    /** The first chunk of a chat choice: the role. */
    static ObjectNode roleChunk(String id, long created, String model, int index, boolean usageField) {
        ObjectNode delta = F.objectNode();
        delta.put("role", "assistant");
        delta.put("content", "");
        delta.putNull("refusal");
        return chunk(Kind.CHAT, id, created, model, index, "", delta, null, usageField);
    }

    /** The last chunk of a choice: empty delta, the finish reason. */
    static ObjectNode finishChunk(
            Kind kind, String id, long created, String model, int index, FinishReason reason, boolean usageField) {
        return chunk(kind, id, created, model, index, "", F.objectNode(), reason, usageField);
    }

    /** The chunk after all choices when {@code stream_options.include_usage} asks for it: no choices, the usage. */
    static ObjectNode usageChunk(Kind kind, String id, long created, String model, Totals totals) {
        ObjectNode root = header(kind.chunkObject, id, created, model);
        root.putArray("choices");
        root.set("usage", usage(kind, totals));
        return root;
    }

    /** The error event of a stream that failed after it started. */
    static ObjectNode streamError(String message) {
        return error(ApiException.server(message));
    }

    private static ObjectNode chunk(
            Kind kind,
            String id,
            long created,
            String model,
            int index,
            String text,
            ObjectNode delta,
            FinishReason reason,
            boolean usageField) {
        ObjectNode root = header(kind.chunkObject, id, created, model);
        ObjectNode o = root.putArray("choices").addObject();
        if (kind == Kind.TEXT) {
            o.put("text", text);
            o.put("index", index);
        } else {
            o.put("index", index);
            o.set("delta", delta);
        }
        o.putNull("logprobs");
        o.put("finish_reason", reason == null ? null : reason.openAiName());
        if (usageField) {
            root.putNull("usage");
        }
        return root;
    }

    private static ObjectNode header(String object, String id, long created, String model) {
        ObjectNode root = F.objectNode();
        root.put("id", id);
        root.put("object", object);
        root.put("created", created);
        root.put("model", model);
        return root;
    }

    private static JsonNode usage(Kind kind, Totals t) {
        ObjectNode u = F.objectNode();
        u.put("prompt_tokens", t.promptTokens());
        u.put("completion_tokens", t.completionTokens());
        u.put("total_tokens", t.promptTokens() + t.completionTokens());
        if (kind == Kind.CHAT) {
            u.putObject("prompt_tokens_details").put("cached_tokens", t.cachedPromptTokens());
        }
        return u;
    }
}
