package fulgur.serve.http;

import com.fasterxml.jackson.databind.JsonNode;
import fulgur.serve.Engine;
import fulgur.serve.FinishReason;
import fulgur.serve.GenerationRequest;
import fulgur.serve.SamplingParams;
import fulgur.tokenizer.Tokenizer;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Predicate;
import org.eclipse.jetty.io.EofException;

/**
 * {@code POST /v1/completions} and {@code POST /v1/chat/completions}: checks the request as the OpenAI API does,
 * turns it into one engine request per choice, and answers with one JSON object or, with {@code stream: true}, with
 * server-sent events as tokens arrive.
 */
final class CompletionEndpoint {

    private static final Set<String> COMMON = Set.of(
            "model",
            "max_tokens",
            "temperature",
            "top_p",
            "top_k",
            "n",
            "stream",
            "stream_options",
            "stop",
            "seed",
            "user",
            "presence_penalty",
            "frequency_penalty",
            "logprobs",
            "logit_bias");
    private static final Set<String> TEXT_ONLY = Set.of("prompt", "echo", "suffix", "best_of");
    private static final Set<String> CHAT_ONLY = Set.of(
            "messages",
            "max_completion_tokens",
            "top_logprobs",
            "response_format",
            "tools",
            "tool_choice",
            "parallel_tool_calls",
            "functions",
            "function_call",
            "metadata",
            "store",
            "service_tier",
            "modalities");
    private static final Set<String> ROLES = Set.of("system", "assistant", "user", "function", "tool", "developer");
    /** Completions (and chat) per request at most, as the OpenAI API allows. */
    static final int MAX_N = 128;
    /** Default {@code max_tokens} of /v1/completions, as the OpenAI API has it. */
    static final int DEFAULT_TEXT_MAX_TOKENS = 16;

    private final OpenAiJson.Kind kind;
    private final Engine engine;
    private final ChatTemplate template;
    private final ServerOptions options;
    private final String modelName;
    private final ServerMetrics metrics;
    private final Semaphore streams;

    CompletionEndpoint(
            OpenAiJson.Kind kind,
            Engine engine,
            ChatTemplate template,
            ServerOptions options,
            String modelName,
            ServerMetrics metrics,
            Semaphore streams) {
        this.kind = kind;
        this.engine = engine;
        this.template = template;
        this.options = options;
        this.modelName = modelName;
        this.metrics = metrics;
        this.streams = streams;
    }

    /** A checked request: one engine request per choice (prompt-major), and how to answer. */
    record Plan(List<GenerationRequest> requests, long promptTokens, boolean stream, boolean includeUsage) {}

    void handle(Exchange ex) throws IOException, InterruptedException {
        Plan plan = plan(ex.readJson(options.maxBodyBytes()));
        int k = plan.requests().size();
        if (!streams.tryAcquire(k)) {
            throw ApiException.busy(
                    "The server is at its limit of " + options.maxConcurrentStreams()
                            + " concurrent streams. Retry later.",
                    1);
        }
        metrics.streams(k);
        try (Generation g = Generation.start(engine, plan.requests(), metrics)) {
            ex.onClientGone(g::cancel);
            if (plan.stream()) {
                stream(ex, g, plan);
            } else {
                respond(ex, g, plan);
            }
        } finally {
            streams.release(k);
            metrics.streams(-k);
        }
    }

    Plan plan(JsonNode body) {
        RequestFields f = new RequestFields(body);
        Set<String> known = new java.util.HashSet<>(COMMON);
        known.addAll(kind == OpenAiJson.Kind.TEXT ? TEXT_ONLY : CHAT_ONLY);
        f.allowOnly(known);
        String model = f.requiredString("model");
        if (!model.equals(modelName)) {
            throw ApiException.modelNotFound(model);
        }
        f.refuseUnsupported(unsupported());
        int n = f.integer("n", 1, MAX_N) instanceof Long l ? l.intValue() : 1;
        boolean stream = Boolean.TRUE.equals(f.bool("stream"));
        boolean includeUsage = streamOptions(f.get("stream_options"), stream);
        double temperature = f.number("temperature", 0, false, 2, 1.0);
        double topP = f.number("top_p", 0, true, 1, 1.0);
        Long topK = f.integer("top_k", -1, Integer.MAX_VALUE);
        Long seed = f.integer("seed", Long.MIN_VALUE, Long.MAX_VALUE);
        List<String> stop = f.stringOrList("stop", 4);
        String maxField = kind == OpenAiJson.Kind.CHAT && f.get("max_completion_tokens") != null
                ? "max_completion_tokens"
                : "max_tokens";
        Long maxTokens = f.integer(maxField, 1, Integer.MAX_VALUE);
        if (maxTokens != null && maxTokens > options.maxTokens()) {
            throw ApiException.invalidValue(
                    maxField,
                    "this server generates at most " + options.maxTokens() + " tokens per completion, but " + maxTokens
                            + " were requested.");
        }

        List<int[]> prompts;
        String promptField;
        if (kind == OpenAiJson.Kind.TEXT) {
            promptField = "prompt";
            prompts = textPrompts(f.get("prompt"));
        } else {
            promptField = "messages";
            prompts = List.of(chatPrompt(f.get("messages")));
            if (!template.eosToken().isEmpty()
                    && !stop.contains(template.eosToken())
                    && endsTurn(template.eosToken())) {
                stop = new ArrayList<>(stop);
                stop.add(template.eosToken());
            }
        }
        if ((long) n * prompts.size() > options.maxConcurrentStreams()) {
            throw ApiException.invalidValue(
                    "n",
                    n * prompts.size() + " completions were requested, more than this server's limit of "
                            + options.maxConcurrentStreams() + " concurrent streams.");
        }
        int context = engine.model().maxContextTokens();
        List<GenerationRequest> requests = new ArrayList<>();
        long promptTokens = 0;
        for (int[] p : prompts) {
            if (p.length > options.maxPromptTokens()) {
                throw ApiException.invalid(
                        promptField,
                        "context_length_exceeded",
                        "This server's maximum prompt length is " + options.maxPromptTokens()
                                + " tokens. However, your prompt is " + p.length
                                + " tokens. Please reduce the length of the " + promptField + ".");
            }
            int max = maxTokens != null
                    ? maxTokens.intValue()
                    : kind == OpenAiJson.Kind.TEXT
                            ? Math.min(DEFAULT_TEXT_MAX_TOKENS, options.maxTokens())
                            : Math.max(1, Math.min(options.maxTokens(), context - p.length));
            if ((long) p.length + max > context) {
                throw ApiException.invalid(
                        promptField,
                        "context_length_exceeded",
                        "This model's maximum context length is " + context
                                + " tokens. However, you requested " + (p.length + max) + " tokens (" + p.length
                                + " in the " + promptField + ", " + max
                                + " in the completion). Please reduce the length of the " + promptField
                                + " or completion.");
            }
            promptTokens += p.length;
            for (int i = 0; i < n; i++) {
                long s = seed != null ? seed + i : ThreadLocalRandom.current().nextLong();
                SamplingParams sp =
                        new SamplingParams(temperature, topP, topK == null || topK < 0 ? 0 : topK.intValue(), s);
                requests.add(new GenerationRequest(p, sp, max, stop, null));
            }
        }
        return new Plan(requests, promptTokens, stream, includeUsage);
    }

    /** Whether {@code token} is a token of its own, so a chat turn can end on it (e.g. Llama 3's {@code <|eot_id|>}). */
    private boolean endsTurn(String token) {
        Tokenizer tok = engine.tokenizer();
        return tok.tokenId(token).isPresent()
                && !(tok.eosId().isPresent()
                        && token.equals(tok.token(tok.eosId().getAsInt())));
    }

    private Map<String, Predicate<JsonNode>> unsupported() {
        Map<String, Predicate<JsonNode>> m = new LinkedHashMap<>();
        m.put("presence_penalty", v -> v.isNumber() && v.doubleValue() == 0);
        m.put("frequency_penalty", v -> v.isNumber() && v.doubleValue() == 0);
        m.put("logprobs", v -> v.isBoolean() && !v.booleanValue());
        m.put("logit_bias", v -> v.isObject() && v.isEmpty());
        if (kind == OpenAiJson.Kind.TEXT) {
            m.put("echo", v -> v.isBoolean() && !v.booleanValue());
            m.put("suffix", v -> v.isTextual() && v.textValue().isEmpty());
            m.put("best_of", v -> v.isIntegralNumber() && v.longValue() == 1);
        } else {
            m.put("top_logprobs", v -> v.isIntegralNumber() && v.longValue() == 0);
            m.put(
                    "response_format",
                    v -> v.isObject() && "text".equals(v.path("type").asText()));
            m.put("tools", v -> v.isArray() && v.isEmpty());
            m.put("tool_choice", v -> v.isTextual() && v.textValue().equals("none"));
            m.put("functions", v -> v.isArray() && v.isEmpty());
            m.put("function_call", v -> v.isTextual() && v.textValue().equals("none"));
            m.put(
                    "modalities",
                    v -> v.isArray() && v.size() == 1 && "text".equals(v.get(0).asText()));
        }
        return m;
    }

    private static boolean streamOptions(JsonNode so, boolean stream) {
        if (so == null) {
            return false;
        }
        if (!stream) {
            throw ApiException.invalid(
                    "stream_options",
                    "invalid_value",
                    "The 'stream_options' parameter is only allowed when 'stream' is enabled.");
        }
        if (!so.isObject()) {
            throw ApiException.invalidType("stream_options", "an object", RequestFields.kind(so));
        }
        JsonNode u = so.get("include_usage");
        if (u != null && !u.isNull() && !u.isBoolean()) {
            throw ApiException.invalidType("stream_options.include_usage", "a boolean", RequestFields.kind(u));
        }
        return u != null && u.asBoolean(false);
    }

    /** {@code prompt}: a string, a list of strings, a list of token ids, or a list of lists of token ids. */
    private List<int[]> textPrompts(JsonNode p) {
        if (p == null) {
            throw ApiException.invalid("prompt", "missing_required_parameter", "Missing required parameter: 'prompt'.");
        }
        List<int[]> out = new ArrayList<>();
        if (p.isTextual()) {
            out.add(encode(p.textValue(), "prompt"));
        } else if (p.isArray() && !p.isEmpty()) {
            if (p.get(0).isIntegralNumber()) {
                out.add(tokenIds(p, "prompt"));
            } else {
                for (int i = 0; i < p.size(); i++) {
                    JsonNode e = p.get(i);
                    if (e.isTextual()) {
                        out.add(encode(e.textValue(), "prompt[" + i + "]"));
                    } else if (e.isArray() && !e.isEmpty()) {
                        out.add(tokenIds(e, "prompt[" + i + "]"));
                    } else {
                        throw ApiException.invalidType(
                                "prompt[" + i + "]",
                                "a string or a non-empty array of token ids",
                                RequestFields.kind(e));
                    }
                }
            }
        } else if (p.isArray()) {
            throw ApiException.invalidValue(
                    "prompt", "empty array. Expected a string, a list of strings or a list of token ids.");
        } else {
            throw ApiException.invalidType("prompt", "a string or an array", RequestFields.kind(p));
        }
        return out;
    }

    private int[] tokenIds(JsonNode arr, String param) {
        int vocab = engine.tokenizer().vocabSize();
        int[] ids = new int[arr.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode e = arr.get(i);
            if (!e.isIntegralNumber()) {
                throw ApiException.invalidType(param + "[" + i + "]", "a token id (an integer)", RequestFields.kind(e));
            }
            if (!e.canConvertToInt() || e.intValue() < 0 || e.intValue() >= vocab) {
                throw ApiException.invalidValue(
                        param + "[" + i + "]",
                        "token id " + e.asText() + " is outside the vocabulary [0, " + vocab + ").");
            }
            ids[i] = e.intValue();
        }
        return ids;
    }

    /** Encodes prompt text; an empty prompt starts from the BOS (or EOS) token, as text generation does. */
    private int[] encode(String text, String param) {
        Tokenizer tok = engine.tokenizer();
        int[] ids = tok.encode(text);
        if (ids.length == 0) {
            if (tok.bosId().isPresent()) {
                return new int[] {tok.bosId().getAsInt()};
            }
            if (tok.eosId().isPresent()) {
                return new int[] {tok.eosId().getAsInt()};
            }
            throw ApiException.invalidValue(
                    param, "the prompt is empty and the tokenizer has no start token to begin from.");
        }
        return ids;
    }

    private int[] chatPrompt(JsonNode msgs) {
        if (msgs == null) {
            throw ApiException.invalid(
                    "messages", "missing_required_parameter", "Missing required parameter: 'messages'.");
        }
        if (!msgs.isArray()) {
            throw ApiException.invalidType("messages", "an array", RequestFields.kind(msgs));
        }
        if (msgs.isEmpty()) {
            throw ApiException.invalid(
                    "messages",
                    "empty_array",
                    "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.");
        }
        List<Map<String, Object>> messages = new ArrayList<>();
        for (int i = 0; i < msgs.size(); i++) {
            messages.add(message(msgs.get(i), "messages[" + i + "]"));
        }
        String text;
        try {
            text = template.render(messages, true);
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("messages", "invalid_value", e.getMessage());
        }
        return encode(text, "messages");
    }

    private static Map<String, Object> message(JsonNode m, String param) {
        if (!m.isObject()) {
            throw ApiException.invalidType(param, "an object", RequestFields.kind(m));
        }
        JsonNode role = m.get("role");
        if (role == null || role.isNull()) {
            throw ApiException.invalid(
                    param + ".role", "missing_required_parameter", "Missing required parameter: '" + param + ".role'.");
        }
        if (!role.isTextual()) {
            throw ApiException.invalidType(param + ".role", "a string", RequestFields.kind(role));
        }
        if (!ROLES.contains(role.textValue())) {
            throw ApiException.invalid(
                    param + ".role",
                    "invalid_value",
                    "Invalid value: '" + role.textValue()
                            + "'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.");
        }
        Map<String, Object> out = new HashMap<>();
        // templates know "system"; "developer" is the newer name for the same turn
        out.put("role", role.textValue().equals("developer") ? "system" : role.textValue());
        out.put(
                "content",
                content(m.get("content"), param + ".content", role.textValue().equals("assistant")));
        JsonNode name = m.get("name");
        if (name != null && !name.isNull()) {
            if (!name.isTextual()) {
                throw ApiException.invalidType(param + ".name", "a string", RequestFields.kind(name));
            }
            out.put("name", name.textValue());
        }
        JsonNode toolCallId = m.get("tool_call_id");
        if (toolCallId != null && toolCallId.isTextual()) {
            out.put("tool_call_id", toolCallId.textValue());
        }
        return out;
    }

    /** {@code content}: a string or a list of text parts (joined by newlines). */
    private static String content(JsonNode c, String param, boolean mayBeAbsent) {
        if (c == null || c.isNull()) {
            if (mayBeAbsent) {
                return "";
            }
            throw ApiException.invalid(
                    param, "missing_required_parameter", "Missing required parameter: '" + param + "'.");
        }
        if (c.isTextual()) {
            return c.textValue();
        }
        if (!c.isArray()) {
            throw ApiException.invalidType(param, "a string or an array of content parts", RequestFields.kind(c));
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < c.size(); i++) {
            JsonNode part = c.get(i);
            String pp = param + "[" + i + "]";
            if (!part.isObject()) {
                throw ApiException.invalidType(pp, "an object", RequestFields.kind(part));
            }
            if (!"text".equals(part.path("type").asText())) {
                throw ApiException.invalidValue(
                        pp + ".type",
                        "only 'text' content parts are supported by this server, got '"
                                + part.path("type").asText() + "'.");
            }
            JsonNode t = part.get("text");
            if (t == null || !t.isTextual()) {
                throw ApiException.invalidType(pp + ".text", "a string", RequestFields.kind(t));
            }
            if (!sb.isEmpty()) {
                sb.append('\n');
            }
            sb.append(t.textValue());
        }
        return sb.toString();
    }

    private void stream(Exchange ex, Generation g, Plan plan) throws InterruptedException {
        String id = newId();
        long created = System.currentTimeMillis() / 1000;
        boolean usageField = plan.includeUsage();
        long completion = 0;
        long cached = 0;
        ex.startEvents();
        TextChunks texts =
                ex.textChunks(kind, id, created, modelName, plan.requests().size(), usageField);
        StringBuilder sb = new StringBuilder();
        if (kind == OpenAiJson.Kind.CHAT) {
            for (int i = 0; i < plan.requests().size(); i++) {
                ex.appendEvent(sb, OpenAiJson.roleChunk(id, created, modelName, i, usageField));
            }
        }
        try {
            ex.writeEvents(sb);
            while (g.open() > 0) {
                Generation.Event first = g.next(250);
                if (first == null) {
                    if (g.isCancelled()) {
                        ex.abort(new EofException("client went away"));
                        return;
                    }
                    continue;
                }
                sb.setLength(0);
                String failure = null;
                for (Generation.Event e = first; e != null; e = g.poll()) {
                    switch (e) {
                        case Generation.Text t -> texts.append(sb, t.choice(), t.text());
                        case Generation.Finished f -> {
                            completion += f.usage().completionTokens();
                            cached += f.usage().cachedPromptTokens();
                            ex.appendEvent(
                                    sb,
                                    OpenAiJson.finishChunk(
                                            kind, id, created, modelName, f.choice(), f.reason(), usageField));
                        }
                        case Generation.Failed f -> failure = f.message();
                    }
                }
                if (failure != null) {
                    g.cancel();
                    ex.appendEvent(sb, OpenAiJson.streamError(failure));
                    ex.writeEvents(sb);
                    ex.endEvents();
                    return;
                }
                ex.writeEvents(sb);
            }
            if (plan.includeUsage()) {
                sb.setLength(0);
                ex.appendEvent(
                        sb,
                        OpenAiJson.usageChunk(
                                kind,
                                id,
                                created,
                                modelName,
                                new OpenAiJson.Totals(plan.promptTokens(), completion, cached)));
                ex.writeEvents(sb);
            }
            ex.endEvents();
        } catch (IOException e) {
            // the client went away: stop generating for it now
            g.cancel();
            ex.abort(e);
        }
    }

    private void respond(Exchange ex, Generation g, Plan plan) throws InterruptedException {
        int k = plan.requests().size();
        StringBuilder[] texts = new StringBuilder[k];
        FinishReason[] reasons = new FinishReason[k];
        for (int i = 0; i < k; i++) {
            texts[i] = new StringBuilder();
        }
        long completion = 0;
        long cached = 0;
        while (g.open() > 0) {
            Generation.Event e = g.next(250);
            if (e == null) {
                if (g.isCancelled()) {
                    ex.abort(new EofException("client went away"));
                    return;
                }
                continue;
            }
            switch (e) {
                case Generation.Text t -> texts[t.choice()].append(t.text());
                case Generation.Finished f -> {
                    reasons[f.choice()] = f.reason();
                    completion += f.usage().completionTokens();
                    cached += f.usage().cachedPromptTokens();
                }
                case Generation.Failed f -> {
                    g.cancel();
                    throw ApiException.server("Generation failed: " + f.message());
                }
            }
        }
        if (g.isCancelled()) {
            ex.abort(new EofException("client went away"));
            return;
        }
        List<OpenAiJson.Choice> choices = new ArrayList<>();
        for (int i = 0; i < k; i++) {
            choices.add(new OpenAiJson.Choice(i, texts[i].toString(), reasons[i]));
        }
        ex.sendJson(
                200,
                OpenAiJson.response(
                        kind,
                        newId(),
                        System.currentTimeMillis() / 1000,
                        modelName,
                        choices,
                        new OpenAiJson.Totals(plan.promptTokens(), completion, cached)));
    }

    private String newId() {
        return kind.idPrefix + UUID.randomUUID().toString().replace("-", "");
    }
}
