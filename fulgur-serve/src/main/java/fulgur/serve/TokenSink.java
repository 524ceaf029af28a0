package fulgur.serve;

/** Where the engine delivers one request's output. Called from the engine's thread; implementations must not block. */
public interface TokenSink {

    /**
     * A token was generated. {@code text} is the new text it completes (empty while a multi-byte character or a
     * possible stop string is still open; such text arrives with a later token).
     *
     * @param token the token id
     * @param text the text it completes, possibly empty
     */
    void onToken(int token, String text);

    /**
     * The request ended normally; no other call follows.
     *
     * @param reason why it ended
     * @param usage its token counts
     */
    void onFinish(FinishReason reason, Usage usage);

    /**
     * The request failed; no other call follows. The message is meant for the client.
     *
     * @param message the message for the client
     */
    void onError(String message);
}
