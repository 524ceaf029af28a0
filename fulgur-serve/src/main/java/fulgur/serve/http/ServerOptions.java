package fulgur.serve.http;

import java.time.Duration;

/**
 * How the HTTP server listens and what it accepts.
 *
 * @param host address to bind (127.0.0.1 keeps the server to this machine)
 * @param port TCP port (0: any free port)
 * @param apiKey when set, every {@code /v1} request must carry {@code Authorization: Bearer <apiKey>}
 * @param servedModelName the model name clients use (null: the engine's model id)
 * @param maxBodyBytes largest request body
 * @param maxPromptTokens longest prompt, in tokens
 * @param maxTokens largest {@code max_tokens} a request may ask for; also the default of chat requests
 * @param maxConcurrentStreams generations (choices) running or queued at once; beyond it requests get 429
 * @param idleTimeout how long a connection may stay silent (a streaming response writes on every token)
 */
public record ServerOptions(
        String host,
        int port,
        String apiKey,
        String servedModelName,
        long maxBodyBytes,
        int maxPromptTokens,
        int maxTokens,
        int maxConcurrentStreams,
        Duration idleTimeout) {

    /**
     * Checks the options.
     *
     * @throws IllegalArgumentException for an empty host, a port outside [0, 65535], a blank API key or model name, or
     *     a non-positive idle timeout
     */
    public ServerOptions {
        if (host == null || host.isBlank()) {
            throw new IllegalArgumentException("host must not be empty");
        }
        if (port < 0 || port > 65_535) {
            throw new IllegalArgumentException("port must be in [0, 65535], got " + port);
        }
        if (apiKey != null && apiKey.isBlank()) {
            throw new IllegalArgumentException("the API key must not be blank");
        }
        if (servedModelName != null && servedModelName.isBlank()) {
            throw new IllegalArgumentException("the served model name must not be blank");
        }
        positive("max body bytes", maxBodyBytes);
        positive("max prompt tokens", maxPromptTokens);
        positive("max tokens", maxTokens);
        positive("max concurrent streams", maxConcurrentStreams);
        if (idleTimeout == null || idleTimeout.isNegative() || idleTimeout.isZero()) {
            throw new IllegalArgumentException("idle timeout must be positive, got " + idleTimeout);
        }
    }

    /**
     * {@return 127.0.0.1:8000 without an API key, 4 MiB bodies, prompts up to 32 768 tokens, 4 096 new tokens, 256
     * streams, a 5-minute idle timeout}
     */
    public static ServerOptions defaults() {
        return new ServerOptions("127.0.0.1", 8000, null, null, 4L << 20, 32_768, 4096, 256, Duration.ofMinutes(5));
    }

    /**
     * {@return these options binding {@code h}}
     *
     * @param h the address
     */
    public ServerOptions withHost(String h) {
        return new ServerOptions(
                h,
                port,
                apiKey,
                servedModelName,
                maxBodyBytes,
                maxPromptTokens,
                maxTokens,
                maxConcurrentStreams,
                idleTimeout);
    }

    /**
     * {@return these options on port {@code p}}
     *
     * @param p the port, 0 for any free one
     */
    public ServerOptions withPort(int p) {
        return new ServerOptions(
                host,
                p,
                apiKey,
                servedModelName,
                maxBodyBytes,
                maxPromptTokens,
                maxTokens,
                maxConcurrentStreams,
                idleTimeout);
    }

    /**
     * {@return these options requiring API key {@code k}}
     *
     * @param k the key, or null for none
     */
    public ServerOptions withApiKey(String k) {
        return new ServerOptions(
                host,
                port,
                k,
                servedModelName,
                maxBodyBytes,
                maxPromptTokens,
                maxTokens,
                maxConcurrentStreams,
                idleTimeout);
    }

    /**
     * {@return these options serving the model as {@code n}}
     *
     * @param n the name, or null for the engine's model id
     */
    public ServerOptions withServedModelName(String n) {
        return new ServerOptions(
                host, port, apiKey, n, maxBodyBytes, maxPromptTokens, maxTokens, maxConcurrentStreams, idleTimeout);
    }

    /**
     * {@return these options with other limits}
     *
     * @param bodyBytes the largest request body
     * @param promptTokens the longest prompt, in tokens
     * @param tokens the largest {@code max_tokens}
     * @param streams the most generations running or queued at once
     */
    public ServerOptions withLimits(long bodyBytes, int promptTokens, int tokens, int streams) {
        return new ServerOptions(
                host, port, apiKey, servedModelName, bodyBytes, promptTokens, tokens, streams, idleTimeout);
    }

    private static void positive(String what, long v) {
        if (v <= 0) {
            throw new IllegalArgumentException(what + " must be positive, got " + v);
        }
    }
}
