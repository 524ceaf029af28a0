package fulgur.serve.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import fulgur.serve.Engine;
import fulgur.serve.EngineStats;
import fulgur.serve.ModelInfo;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Set;
import java.util.concurrent.Semaphore;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/**
 * Routes requests to the endpoints, checks the API key on {@code /v1}, and turns every failure into an OpenAI error
 * object: what was wrong for bad requests, a bare "internal error" (details only in the server's log) otherwise.
 */
final class Router extends Handler.Abstract {
    private static final System.Logger LOG = System.getLogger(Router.class.getName());
    private static final Set<String> ENDPOINTS = Set.of(
            "/",
            "/chat.js",
            "/chat.css",
            "/health",
            "/metrics",
            "/v1/models",
            "/v1/completions",
            "/v1/chat/completions");

    private final Engine engine;
    private final ServerOptions options;
    private final String modelName;
    private final ServerMetrics metrics;
    private final ObjectMapper mapper;
    private final WebPage page;
    private final CompletionEndpoint completions;
    private final CompletionEndpoint chat;
    private final byte[] apiKey;
    private final long started = System.currentTimeMillis() / 1000;

    Router(Engine engine, ChatTemplate template, ServerOptions options, ServerMetrics metrics, ObjectMapper mapper) {
        super(InvocationType.BLOCKING);
        this.engine = engine;
        this.options = options;
        this.modelName = options.servedModelName() != null
                ? options.servedModelName()
                : engine.model().id();
        this.metrics = metrics;
        this.mapper = mapper;
        this.page = new WebPage();
        Semaphore streams = new Semaphore(options.maxConcurrentStreams());
        this.completions =
                new CompletionEndpoint(OpenAiJson.Kind.TEXT, engine, template, options, modelName, metrics, streams);
        this.chat =
                new CompletionEndpoint(OpenAiJson.Kind.CHAT, engine, template, options, modelName, metrics, streams);
        this.apiKey = options.apiKey() == null ? null : options.apiKey().getBytes(StandardCharsets.UTF_8);
    }

    String modelName() {
        return modelName;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        Exchange ex = new Exchange(request, response, callback, mapper);
        String path = ex.path();
        try {
            route(ex, path);
        } catch (ApiException e) {
            fail(ex, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail(ex, new ApiException(503, "server_error", null, "unavailable", "The server is shutting down.", 0));
        } catch (Throwable t) {
            LOG.log(System.Logger.Level.ERROR, "internal error on " + ex.method() + " " + path, t);
            fail(ex, ApiException.server("The server had an internal error while processing your request."));
        } finally {
            metrics.request(
                    ENDPOINTS.contains(path) ? path : path.startsWith("/v1/models/") ? "/v1/models/{model}" : "other",
                    response.getStatus());
        }
        return true;
    }

    private static void fail(Exchange ex, ApiException e) {
        if (ex.isCompleted()) {
            return;
        }
        if (ex.isCommitted()) {
            ex.abort(e);
        } else {
            ex.sendError(e);
        }
    }

    private void route(Exchange ex, String path) throws Exception {
        String method = ex.method();
        if (path.startsWith("/v1/") || path.equals("/v1")) {
            authorize(ex);
            switch (path) {
                case "/v1/completions" -> {
                    allow(ex, "POST");
                    completions.handle(ex);
                }
                case "/v1/chat/completions" -> {
                    allow(ex, "POST");
                    chat.handle(ex);
                }
                case "/v1/models" -> {
                    allow(ex, "GET");
                    ObjectNode list = JsonNodeFactory.instance.objectNode();
                    list.put("object", "list");
                    ArrayNode data = list.putArray("data");
                    data.add(model());
                    ex.sendJson(200, list);
                }
                default -> {
                    if (path.startsWith("/v1/models/") && path.length() > "/v1/models/".length()) {
                        allow(ex, "GET");
                        String id = java.net.URLDecoder.decode(
                                path.substring("/v1/models/".length()), StandardCharsets.UTF_8);
                        if (!id.equals(modelName)) {
                            throw ApiException.modelNotFound(id);
                        }
                        ex.sendJson(200, model());
                    } else {
                        throw unknown(method, path);
                    }
                }
            }
            return;
        }
        switch (path) {
            case "/health" -> {
                allow(ex, "GET");
                ObjectNode h = JsonNodeFactory.instance.objectNode();
                EngineStats s = engine.stats();
                h.put("status", "ok");
                h.put("model", modelName);
                h.put("running", s.running());
                h.put("queued", s.queued());
                ex.sendJson(200, h);
            }
            case "/metrics" -> {
                allow(ex, "GET");
                ex.send(200, metrics.contentType(), metrics.scrape());
            }
            default -> {
                WebPage.Resource r = page.get(path);
                if (r == null) {
                    throw unknown(method, path);
                }
                allow(ex, "GET");
                ex.response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
                ex.send(200, r.contentType(), r.bytes());
            }
        }
    }

    /** The model object of /v1/models, with what this server adds: architecture, size, device, limits, config. */
    private ObjectNode model() throws java.io.IOException {
        ModelInfo m = engine.model();
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("id", modelName);
        o.put("object", "model");
        o.put("created", started);
        o.put("owned_by", "fulgur");
        o.put("architecture", m.architecture());
        o.put("parameters", m.parameters());
        o.put("device", m.device());
        o.put("vocab_size", m.vocabSize());
        o.put("max_model_len", m.maxContextTokens());
        o.put("max_prompt_tokens", options.maxPromptTokens());
        o.put("max_tokens", options.maxTokens());
        o.set("config", mapper.readTree(m.configJson()));
        return o;
    }

    private void authorize(Exchange ex) {
        if (apiKey == null) {
            return;
        }
        String h = ex.header(HttpHeader.AUTHORIZATION);
        if (h == null || h.isBlank()) {
            throw ApiException.unauthorized(
                    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
                            + "Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    null);
        }
        String given =
                h.regionMatches(true, 0, "Bearer ", 0, 7) ? h.substring(7).trim() : "";
        if (!MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8), apiKey)) {
            throw ApiException.unauthorized("Incorrect API key provided.", "invalid_api_key");
        }
    }

    private static void allow(Exchange ex, String method) {
        String m = ex.method();
        if (m.equals(method) || (method.equals("GET") && m.equals("HEAD"))) {
            return;
        }
        ex.response.getHeaders().put(HttpHeader.ALLOW, method.equals("GET") ? "GET, HEAD" : method);
        throw new ApiException(
                405,
                "invalid_request_error",
                null,
                "method_not_allowed",
                "Method " + m + " is not allowed on " + ex.path() + " (use " + method + ").",
                0);
    }

    private static ApiException unknown(String method, String path) {
        return new ApiException(
                404,
                "invalid_request_error",
                null,
                "unknown_url",
                "Unknown request URL: " + method + " " + path + ".",
                0);
    }
}
