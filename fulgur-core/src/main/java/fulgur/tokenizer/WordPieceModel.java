package fulgur.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import fulgur.io.MalformedFileException;
import java.util.HashMap;
import java.util.Map;

/**
 * A Hugging Face WordPiece model (BERT): greedy longest-match-first over the word, pieces after the first carry the
 * continuing-subword prefix ({@code ##}); a word with a part no piece matches, or longer than
 * {@code max_input_chars_per_word} characters, becomes the unknown token as a whole.
 */
final class WordPieceModel implements WordModel {
    private final Map<String, Integer> vocab;
    private final int unkId;
    private final String prefix;
    private final int maxChars;

    WordPieceModel(Map<String, Integer> vocab, int unkId, String prefix, int maxChars) {
        this.vocab = vocab;
        this.unkId = unkId;
        this.prefix = prefix;
        this.maxChars = maxChars;
    }

    static WordModel.Parts parse(JsonNode node, TokenizerJson ctx) throws MalformedFileException {
        JsonNode v = node.get("vocab");
        if (v == null || !v.isObject()) {
            throw ctx.malformed("WordPiece model.vocab must be an object of token -> id");
        }
        Map<String, Integer> vocab = new HashMap<>(v.size() * 2);
        Map<Integer, String> tokenOf = new HashMap<>(v.size() * 2);
        int maxId = -1;
        for (Map.Entry<String, JsonNode> e : v.properties()) {
            JsonNode n = e.getValue();
            if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < 0 || n.asInt() >= HfTokenizer.MAX_VOCAB) {
                throw ctx.malformed("WordPiece model.vocab: token \"" + e.getKey() + "\" has id " + n
                        + ", expected an integer in [0, " + HfTokenizer.MAX_VOCAB + ")");
            }
            int id = n.asInt();
            vocab.put(e.getKey(), id);
            tokenOf.putIfAbsent(id, e.getKey());
            maxId = Math.max(maxId, id);
        }
        String unk = node.path("unk_token").asText("[UNK]");
        Integer unkId = vocab.get(unk);
        if (unkId == null) {
            throw ctx.malformed("WordPiece model.unk_token \"" + unk + "\" is not in model.vocab");
        }
        String prefix = node.path("continuing_subword_prefix").asText("##");
        int maxChars = node.path("max_input_chars_per_word").asInt(100);
        return new WordModel.Parts(new WordPieceModel(vocab, unkId, prefix, maxChars), vocab, tokenOf, maxId);
    }

    @Override
    public int[] tokenize(String word) {
        if (word.isEmpty()) {
            return new int[0];
        }
        if (word.codePointCount(0, word.length()) > maxChars) {
            return new int[] {unkId};
        }
        IntList out = new IntList(8);
        int start = 0;
        while (start < word.length()) {
            int end = word.length();
            int found = -1;
            while (start < end) {
                String sub = start > 0 ? prefix + word.substring(start, end) : word.substring(start, end);
                Integer id = vocab.get(sub);
                if (id != null) {
                    found = id;
                    break;
                }
                end -= Character.charCount(word.codePointBefore(end));
            }
            if (found < 0) {
                return new int[] {unkId};
            }
            out.add(found);
            start = end;
        }
        return out.toArray();
    }
}
