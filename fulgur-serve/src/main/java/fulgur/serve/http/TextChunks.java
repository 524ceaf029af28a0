package fulgur.serve.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The server-sent events of one stream's text pieces, written without building a JSON tree per token. Within a stream
 * only the text of a text chunk changes (id, created, model and the choice's index are fixed), so each choice's chunk
 * is serialised once by the mapper around a marker and every piece is the two halves with its text quoted between
 * them: byte for byte what serialising {@link OpenAiJson#textChunk} gives, at the cost of quoting the text.
 */
final class TextChunks {
    /** Stands for the text in the template: private-use characters the mapper writes as they are. */
    private static final String MARK = "\uE000text\uE001";

    private final OpenAiJson.Kind kind;
    private final String id;
    private final long created;
    private final String model;
    private final boolean usageField;
    private final ObjectMapper mapper;
    /** Per choice: the event up to the text and after it; null until the choice's first piece. */
    private final String[] before;

    private final String[] after;

    TextChunks(
            OpenAiJson.Kind kind,
            String id,
            long created,
            String model,
            int choices,
            boolean usageField,
            ObjectMapper mapper) {
        this.kind = kind;
        this.id = id;
        this.created = created;
        this.model = model;
        this.usageField = usageField;
        this.mapper = mapper;
        this.before = new String[choices];
        this.after = new String[choices];
    }

    /** Appends the event {@code data: <text chunk>\n\n} of choice {@code choice} with {@code text}. */
    void append(StringBuilder out, int choice, String text) {
        if (before[choice] == null) {
            String json = write(choice, MARK);
            int at = json.indexOf(MARK);
            if (at < 0 || json.indexOf(MARK, at + 1) >= 0) {
                // the marker is also in the model's name: this stream serialises every chunk
                out.append("data: ").append(write(choice, text)).append("\n\n");
                return;
            }
            before[choice] = "data: " + json.substring(0, at);
            after[choice] = json.substring(at + MARK.length()) + "\n\n";
        }
        out.append(before[choice]);
        JsonStringEncoder.getInstance().quoteAsString(text, out);
        out.append(after[choice]);
    }

    private String write(int choice, String text) {
        try {
            return mapper.writeValueAsString(OpenAiJson.textChunk(kind, id, created, model, choice, text, usageField));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
