package fulgur.serve.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import fulgur.io.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Turns chat messages into prompt text with the model's chat template: the Jinja template of its
 * {@code tokenizer_config.json} ({@code chat_template}) or {@code chat_template.jinja}, rendered as Hugging Face
 * transformers renders it (trim_blocks, lstrip_blocks; {@code messages}, {@code add_generation_prompt},
 * {@code bos_token}, {@code eos_token}, {@code raise_exception}, {@code strftime_now}). Models without one get a plain
 * "role: content" template.
 */
public final class ChatTemplate {

    /** The template of models that have none: one "role: content" line per message, then "assistant:". */
    public static final String PLAIN =
            "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
                    + "{% if add_generation_prompt %}assistant:{% endif %}";

    private static final Jinjava JINJAVA = newJinjava();

    private final String source;
    private final String bosToken;
    private final String eosToken;

    /**
     * A template.
     *
     * @param source the Jinja template text
     * @param bosToken the value of {@code bos_token} in the template, or null for empty
     * @param eosToken the value of {@code eos_token} in the template, or null for empty
     */
    public ChatTemplate(String source, String bosToken, String eosToken) {
        this.source = java.util.Objects.requireNonNull(source, "source");
        this.bosToken = bosToken == null ? "" : bosToken;
        this.eosToken = eosToken == null ? "" : eosToken;
    }

    /** {@return the template of models that have none, {@link #PLAIN}} */
    public static ChatTemplate plain() {
        return new ChatTemplate(PLAIN, "", "");
    }

    /**
     * The template of a model directory: {@code tokenizer_config.json} (with {@code chat_template}, {@code bos_token},
     * {@code eos_token}) or {@code chat_template.jinja} in the directory or, for a training run's checkpoint, its
     * parent; {@link #plain()} when there is none.
     *
     * @param dir the model directory
     * @return the template
     * @throws java.io.IOException when a file cannot be read or is malformed
     */
    public static ChatTemplate forModelDir(Path dir) throws IOException {
        Path d = dir.toAbsolutePath().normalize();
        for (Path p : d.getParent() == null ? List.of(d) : List.of(d, d.getParent())) {
            Path config = p.resolve("tokenizer_config.json");
            Path jinja = p.resolve("chat_template.jinja");
            if (Files.isRegularFile(config) || Files.isRegularFile(jinja)) {
                JsonNode c = Files.isRegularFile(config)
                        ? Json.read(config)
                        : Json.mapper().createObjectNode();
                String template = Files.isRegularFile(jinja)
                        ? Files.readString(jinja)
                        : templateOf(c.get("chat_template"), config);
                return template == null
                        ? new ChatTemplate(PLAIN, token(c.get("bos_token")), token(c.get("eos_token")))
                        : new ChatTemplate(template, token(c.get("bos_token")), token(c.get("eos_token")));
            }
        }
        return plain();
    }

    /** {@code chat_template} is a string, or a list of named templates of which "default" is the chat one. */
    private static String templateOf(JsonNode t, Path file) {
        if (t == null || t.isNull()) {
            return null;
        }
        if (t.isTextual()) {
            return t.textValue();
        }
        if (t.isArray()) {
            for (JsonNode named : t) {
                if ("default".equals(named.path("name").asText())
                        && named.path("template").isTextual()) {
                    return named.get("template").textValue();
                }
            }
        }
        throw new IllegalArgumentException(
                file + ": chat_template must be a string or a list with a template named \"default\"");
    }

    /** A special token as tokenizer_config.json writes it: a string, or an object with {@code content}. */
    private static String token(JsonNode t) {
        if (t == null || t.isNull()) {
            return "";
        }
        return t.isTextual() ? t.textValue() : t.path("content").asText("");
    }

    /** {@return the Jinja template text} */
    public String source() {
        return source;
    }

    /** {@return the template's beginning-of-sequence token, empty when not given} */
    public String bosToken() {
        return bosToken;
    }

    /**
     * The template's end-of-turn token (tokenizer_config.json's {@code eos_token}; empty when not given).
     *
     * @return the token
     */
    public String eosToken() {
        return eosToken;
    }

    /**
     * Renders {@code messages} (each a map with at least "role" and "content"). A template error, including one the
     * template raises itself (e.g. "roles must alternate"), is an {@link IllegalArgumentException} with its message.
     *
     * @param messages the conversation
     * @param addGenerationPrompt whether to end with the assistant's turn opening
     * @return the prompt text
     * @throws IllegalArgumentException when the template fails or refuses the messages
     */
    public String render(List<Map<String, Object>> messages, boolean addGenerationPrompt) {
        Map<String, Object> context = new HashMap<>();
        context.put("messages", messages);
        context.put("add_generation_prompt", addGenerationPrompt);
        context.put("bos_token", bosToken);
        context.put("eos_token", eosToken);
        RenderResult r = JINJAVA.renderForResult(source, context);
        for (TemplateError e : r.getErrors()) {
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new IllegalArgumentException(cleanMessage(e));
            }
        }
        return r.getOutput();
    }

    private static String cleanMessage(TemplateError e) {
        Throwable t = e.getException();
        while (t != null) {
            if (t instanceof TemplateRaised raised) {
                return raised.getMessage();
            }
            t = t.getCause();
        }
        return "chat template error: " + e.getMessage();
    }

    /**
     * {@code raise_exception(message)}: a template refusing its input.
     *
     * @param message the template's message
     * @return never
     * @throws RuntimeException always, carrying the message (render reports it as an IllegalArgumentException)
     */
    public static Object raiseException(String message) {
        throw new TemplateRaised(message);
    }

    /**
     * {@code strftime_now(format)}: today's date for templates that print it (Llama 3.1 and later).
     *
     * @param format a Python strftime format
     * @return the date formatted
     */
    public static String strftimeNow(String format) {
        StringBuilder pattern = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c == '%' && i + 1 < format.length()) {
                char f = format.charAt(++i);
                pattern.append(
                        switch (f) {
                            case 'd' -> "dd";
                            case 'm' -> "MM";
                            case 'Y' -> "yyyy";
                            case 'y' -> "yy";
                            case 'b' -> "MMM";
                            case 'B' -> "MMMM";
                            case 'H' -> "HH";
                            case 'M' -> "mm";
                            case 'S' -> "ss";
                            case 'A' -> "EEEE";
                            case 'a' -> "EEE";
                            default -> "'%" + f + "'";
                        });
            } else if (Character.isLetter(c)) {
                pattern.append('\'').append(c).append('\'');
            } else {
                pattern.append(c == '\'' ? "''" : String.valueOf(c));
            }
        }
        return LocalDateTime.now().format(DateTimeFormatter.ofPattern(pattern.toString(), Locale.ENGLISH));
    }

    static final class TemplateRaised extends RuntimeException {
        TemplateRaised(String message) {
            super(message, null, false, false);
        }
    }

    private static Jinjava newJinjava() {
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                // Jinja2's semantics where jinjava's defaults differ ("{{'x'}}" without spaces is an expression too)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withEvaluateMapKeys(true)
                        .withIterateOverMapKeys(true)
                        .withUsePyishObjectMapper(true)
                        .withUseNaturalOperatorPrecedence(true)
                        .withParseWhitespaceControlStrictly(true)
                        .withAllowAdjacentTextNodes(true)
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withKeepNullableLoopValues(true)
                        .withWhitespaceRequiredWithinTokens(false)
                        .build())
                .withMaxOutputSize(64L << 20)
                .build();
        Jinjava j = new Jinjava(config);
        j.getGlobalContext()
                .registerFunction(new ELFunctionDefinition(
                        "", "raise_exception", ChatTemplate.class, "raiseException", String.class));
        j.getGlobalContext()
                .registerFunction(
                        new ELFunctionDefinition("", "strftime_now", ChatTemplate.class, "strftimeNow", String.class));
        return j;
    }
}
