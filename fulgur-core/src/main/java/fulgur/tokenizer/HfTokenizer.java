package fulgur.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import fulgur.io.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * A Hugging Face {@code tokenizer.json} tokenizer: BPE in the GPT-2 byte-level style (GPT-2, Llama 3, Qwen, ...) and
 * the SentencePiece style with byte fallback (Llama 2, Mistral), Unigram (T5, ALBERT, converted SentencePiece models)
 * and WordPiece (BERT).
 *
 * <p>Encoding follows the Hugging Face pipeline: added tokens are matched whole in the raw text (leftmost-longest),
 * the text between them is normalized (Unicode forms, BERT's normalizer, SentencePiece's precompiled rules, ...),
 * pre-tokenized (ByteLevel with GPT-2's split regex, {@code Split} with a pattern such as Llama 3's, {@code Digits},
 * {@code Metaspace}, BERT's, {@code Whitespace}, {@code Punctuation}, in a {@code Sequence}) and each piece is encoded
 * by the model ({@code WordModel}: BPE merges by rank with {@code ignore_merges}, {@code byte_fallback} and the
 * unknown token; the Unigram Viterbi segmentation; WordPiece's longest match first). Decoding maps ids to their
 * vocabulary strings and runs the decoder (ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace, WordPiece).
 * Post-processors (templates adding BOS) are not applied: {@link #encode(String)} returns the text's tokens only;
 * the BOS id the template names is reported by {@link #bosId()}.
 *
 * <p>BOS and EOS come from a {@code tokenizer_config.json} next to the file if there is one, else from the
 * post-processor's template, else from conventional token names; {@link #withBos}/{@link #withEos} override them.
 * Unsupported parts of a file (another model type, an unknown pre-tokenizer, ...) are refused with an error naming
 * them; unknown fields are ignored.
 */
public final class HfTokenizer implements Tokenizer {

    private final Path source;
    private final WordModel model;
    private final Map<String, Integer> vocab;
    private final String[] idToToken;
    private final AddedVocabulary added;
    private final Normalizer normalizer;
    private final PreTokenizer preTokenizer;
    private final Decoder decoder;
    private final boolean byteLevel;
    private final Map<String, Integer> specials;
    private final OptionalInt bos;
    private final OptionalInt eos;

    private HfTokenizer(
            Path source,
            WordModel model,
            Map<String, Integer> vocab,
            String[] idToToken,
            AddedVocabulary added,
            Normalizer normalizer,
            PreTokenizer preTokenizer,
            Decoder decoder,
            boolean byteLevel,
            Map<String, Integer> specials,
            OptionalInt bos,
            OptionalInt eos) {
        this.source = source;
        this.model = model;
        this.vocab = vocab;
        this.idToToken = idToToken;
        this.added = added;
        this.normalizer = normalizer;
        this.preTokenizer = preTokenizer;
        this.decoder = decoder;
        this.byteLevel = byteLevel;
        this.specials = specials;
        this.bos = bos;
        this.eos = eos;
    }

    /**
     * Ids must lie below this (16 777 216, far above any real vocabulary): the id-to-token table is an array sized by
     * the largest id, so an absurd id would otherwise exhaust memory.
     */
    public static final int MAX_VOCAB = 1 << 24;

    /**
     * Loads a tokenizer.json (a file, or a directory holding {@code tokenizer.json}).
     *
     * @param path the file or directory
     * @return the tokenizer
     * @throws java.io.IOException when the file cannot be read
     * @throws fulgur.io.MalformedFileException when it is not a tokenizer.json this class supports, naming what is
     *     wrong
     */
    public static HfTokenizer fromJson(Path path) throws IOException {
        Path file = Files.isDirectory(path) ? path.resolve("tokenizer.json") : path;
        JsonNode root = Json.read(file);
        TokenizerJson ctx = new TokenizerJson(file);
        if (!root.isObject()) {
            throw ctx.malformed("expected a JSON object, found " + root.getNodeType());
        }
        JsonNode modelNode = root.get("model");
        if (modelNode == null || !modelNode.isObject()) {
            throw ctx.malformed("missing \"model\" object");
        }
        String type = modelNode.hasNonNull("type") ? modelNode.get("type").asText() : Tokenizers.modelType(root);
        WordModel.Parts parts = switch (type) {
            case "BPE" -> bpe(modelNode, ctx);
            case "Unigram" -> UnigramModel.parse(modelNode, ctx);
            case "WordPiece" -> WordPieceModel.parse(modelNode, ctx);
            default -> throw ctx.unsupported("model type \"" + type + "\"", "BPE, Unigram, WordPiece");
        };
        WordModel model = parts.model();
        Map<String, Integer> vocab = parts.vocab();
        Map<Integer, String> tokenOf = parts.tokenOf();
        int maxId = parts.maxId();

        // added tokens
        List<AddedVocabulary.AddedToken> addedTokens = new ArrayList<>();
        java.util.Set<Integer> addedIds = new java.util.HashSet<>();
        java.util.Set<String> addedContents = new java.util.HashSet<>();
        JsonNode addedNode = root.get("added_tokens");
        if (addedNode != null && !addedNode.isNull()) {
            if (!addedNode.isArray()) {
                throw ctx.malformed("\"added_tokens\" must be an array");
            }
            for (int i = 0; i < addedNode.size(); i++) {
                JsonNode t = addedNode.get(i);
                JsonNode id = t.get("id");
                JsonNode content = t.get("content");
                if (id == null
                        || !id.isIntegralNumber()
                        || !id.canConvertToInt()
                        || id.asInt() < 0
                        || id.asInt() >= MAX_VOCAB
                        || content == null
                        || !content.isTextual()
                        || content.asText().isEmpty()) {
                    throw ctx.malformed("added_tokens[" + i + "] needs an integer \"id\" in [0, " + MAX_VOCAB
                            + ") and a non-empty string \"content\", found " + abbreviate(t.toString()));
                }
                if (!addedIds.add(id.asInt()) || !addedContents.add(content.asText())) {
                    throw ctx.malformed("added_tokens[" + i + "] (id " + id.asInt() + ", \"" + content.asText()
                            + "\") repeats the id or the content of an earlier added token");
                }
                addedTokens.add(new AddedVocabulary.AddedToken(
                        id.asInt(),
                        content.asText(),
                        t.path("special").asBoolean(false),
                        t.path("single_word").asBoolean(false),
                        t.path("lstrip").asBoolean(false),
                        t.path("rstrip").asBoolean(false)));
                maxId = Math.max(maxId, id.asInt());
            }
        }
        String[] idToToken = new String[maxId + 1];
        tokenOf.forEach((id, tok) -> idToToken[id] = tok);
        Map<String, Integer> specials = new LinkedHashMap<>();
        for (AddedVocabulary.AddedToken t : addedTokens) {
            idToToken[t.id()] = t.content();
            if (t.special()) {
                specials.put(t.content(), t.id());
            }
        }

        Normalizer normalizer = Normalizer.parse(root.get("normalizer"), ctx);
        PreTokenizer preTokenizer = PreTokenizer.parse(root.get("pre_tokenizer"), ctx);
        Decoder decoder = Decoder.parse(root.get("decoder"), ctx);
        boolean byteLevel = model instanceof BpeModel
                && (containsByteLevel(preTokenizer) || decoder instanceof Decoder.ByteLevelDecoder);

        Map<String, Integer> allIds = new HashMap<>(vocab);
        for (AddedVocabulary.AddedToken t : addedTokens) {
            allIds.put(t.content(), t.id());
        }
        String[] bosEos = specialNames(file, root.get("post_processor"));
        OptionalInt bos = pick(
                allIds, bosEos[0], "<|begin_of_text|>", "<s>", "<|startoftext|>", "<bos>", "[BOS]", "<|endoftext|>");
        OptionalInt eos = pick(allIds, bosEos[1], "<|end_of_text|>", "<|endoftext|>", "</s>", "<eos>", "[EOS]");
        return new HfTokenizer(
                file,
                model,
                Collections.unmodifiableMap(allIds),
                idToToken,
                new AddedVocabulary(addedTokens),
                normalizer,
                preTokenizer,
                decoder,
                byteLevel,
                Collections.unmodifiableMap(specials),
                bos,
                eos);
    }

    /** The vocabulary and merges of a BPE model node. */
    private static WordModel.Parts bpe(JsonNode modelNode, TokenizerJson ctx) throws IOException {
        JsonNode dropout = modelNode.get("dropout");
        if (dropout != null && !dropout.isNull() && dropout.asDouble() > 0) {
            throw ctx.unsupported(
                    "model.dropout " + dropout.asDouble() + " (BPE dropout is random; encoding must be deterministic)",
                    "null or 0");
        }
        for (String field : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
            JsonNode v = modelNode.get(field);
            if (v != null && !v.isNull() && !v.asText().isEmpty()) {
                throw ctx.unsupported("model." + field + " \"" + v.asText() + "\"", "null");
            }
        }

        // vocabulary
        JsonNode vocabNode = modelNode.get("vocab");
        if (vocabNode == null || !vocabNode.isObject()) {
            throw ctx.malformed("model.vocab must be an object of token -> id");
        }
        Map<String, Integer> vocab = new HashMap<>(vocabNode.size() * 2);
        Map<Integer, String> tokenOf = new HashMap<>(vocabNode.size() * 2);
        int maxId = -1;
        for (Map.Entry<String, JsonNode> e : vocabNode.properties()) {
            JsonNode v = e.getValue();
            if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < 0 || v.asInt() >= MAX_VOCAB) {
                throw ctx.malformed("model.vocab: token \"" + e.getKey() + "\" has id " + v
                        + ", expected an integer in [0, " + MAX_VOCAB + ")");
            }
            int id = v.asInt();
            String other = tokenOf.putIfAbsent(id, e.getKey());
            if (other != null) {
                throw ctx.malformed(
                        "model.vocab: tokens \"" + other + "\" and \"" + e.getKey() + "\" both have id " + id);
            }
            vocab.put(e.getKey(), id);
            maxId = Math.max(maxId, id);
        }

        // merges
        JsonNode mergesNode = modelNode.get("merges");
        if (mergesNode == null || !mergesNode.isArray()) {
            throw ctx.malformed("model.merges must be an array of \"a b\" strings or [\"a\", \"b\"] pairs");
        }
        int[][] merges = new int[mergesNode.size()][];
        for (int r = 0; r < merges.length; r++) {
            JsonNode m = mergesNode.get(r);
            String a;
            String b;
            if (m.isTextual()) {
                String[] parts = m.asText().split(" ", -1);
                if (parts.length != 2) {
                    throw ctx.malformed(
                            "model.merges[" + r + "] \"" + m.asText() + "\" must be two tokens separated by one space");
                }
                a = parts[0];
                b = parts[1];
            } else if (m.isArray()
                    && m.size() == 2
                    && m.get(0).isTextual()
                    && m.get(1).isTextual()) {
                a = m.get(0).asText();
                b = m.get(1).asText();
            } else {
                throw ctx.malformed("model.merges[" + r + "] is " + m + ", expected \"a b\" or [\"a\", \"b\"]");
            }
            Integer ia = vocab.get(a);
            Integer ib = vocab.get(b);
            Integer im = vocab.get(a + b);
            if (ia == null || ib == null || im == null) {
                String missing = ia == null ? a : ib == null ? b : a + b;
                throw ctx.malformed("model.merges[" + r + "] (\"" + a + "\", \"" + b + "\"): token \"" + missing
                        + "\" is not in model.vocab");
            }
            merges[r] = new int[] {ia, ib, im};
        }
        int unkId = -1;
        JsonNode unk = modelNode.get("unk_token");
        if (unk != null && !unk.isNull()) {
            Integer id = vocab.get(unk.asText());
            if (id == null) {
                throw ctx.malformed("model.unk_token \"" + unk.asText() + "\" is not in model.vocab");
            }
            unkId = id;
        }
        WordModel model = new BpeModel(
                vocab,
                merges,
                unkId,
                modelNode.path("fuse_unk").asBoolean(false),
                modelNode.path("byte_fallback").asBoolean(false),
                modelNode.path("ignore_merges").asBoolean(false));

        return new WordModel.Parts(model, vocab, tokenOf, maxId);
    }

    private static boolean containsByteLevel(PreTokenizer p) {
        return switch (p) {
            case null -> false;
            case PreTokenizer.ByteLevelSplit b -> true;
            case PreTokenizer.Sequence s -> s.steps().stream().anyMatch(HfTokenizer::containsByteLevel);
            default -> false;
        };
    }

    /** BOS and EOS token strings from tokenizer_config.json or the post-processor template (null where unknown). */
    private static String[] specialNames(Path file, JsonNode postProcessor) throws IOException {
        String bos = null;
        String eos = null;
        Path config = file.toAbsolutePath().resolveSibling("tokenizer_config.json");
        if (Files.isRegularFile(config)) {
            JsonNode c = Json.read(config);
            bos = tokenText(c.get("bos_token"));
            eos = tokenText(c.get("eos_token"));
        }
        if (bos == null
                && postProcessor != null
                && "TemplateProcessing".equals(postProcessor.path("type").asText())) {
            JsonNode single = postProcessor.path("single");
            if (single.isArray() && !single.isEmpty() && single.get(0).has("SpecialToken")) {
                bos = single.get(0).get("SpecialToken").path("id").asText(null);
            }
            if (eos == null
                    && single.isArray()
                    && single.size() > 1
                    && single.get(single.size() - 1).has("SpecialToken")) {
                eos = single.get(single.size() - 1)
                        .get("SpecialToken")
                        .path("id")
                        .asText(null);
            }
        }
        return new String[] {bos, eos};
    }

    private static String tokenText(JsonNode n) {
        if (n == null || n.isNull()) {
            return null;
        }
        if (n.isTextual()) {
            return n.asText();
        }
        return n.hasNonNull("content") ? n.get("content").asText() : null;
    }

    private static OptionalInt pick(Map<String, Integer> ids, String preferred, String... conventional) {
        if (preferred != null && ids.containsKey(preferred)) {
            return OptionalInt.of(ids.get(preferred));
        }
        for (String name : conventional) {
            Integer id = ids.get(name);
            if (id != null) {
                return OptionalInt.of(id);
            }
        }
        return OptionalInt.empty();
    }

    /**
     * This tokenizer with {@code token} as its BOS token.
     *
     * @param token a token of the vocabulary
     * @return the new tokenizer
     * @throws IllegalArgumentException when the vocabulary has no such token
     */
    public HfTokenizer withBos(String token) {
        return new HfTokenizer(
                source,
                model,
                vocab,
                idToToken,
                added,
                normalizer,
                preTokenizer,
                decoder,
                byteLevel,
                specials,
                OptionalInt.of(idOf(token)),
                eos);
    }

    /**
     * This tokenizer with {@code token} as its EOS token.
     *
     * @param token a token of the vocabulary
     * @return the new tokenizer
     * @throws IllegalArgumentException when the vocabulary has no such token
     */
    public HfTokenizer withEos(String token) {
        return new HfTokenizer(
                source,
                model,
                vocab,
                idToToken,
                added,
                normalizer,
                preTokenizer,
                decoder,
                byteLevel,
                specials,
                bos,
                OptionalInt.of(idOf(token)));
    }

    private int idOf(String token) {
        Integer id = vocab.get(token);
        if (id == null) {
            throw new IllegalArgumentException(source + ": token \"" + token + "\" is not in the vocabulary");
        }
        return id;
    }

    /**
     * Whether this is a byte-level tokenizer (every byte sequence has an exact encoding).
     *
     * @return true for a byte-level tokenizer
     */
    public boolean isByteLevel() {
        return byteLevel;
    }

    @Override
    public int[] encode(String text) {
        IntList out = new IntList(text.length() / 3 + 4);
        encodeInto(text, true, out);
        return out.toArray();
    }

    @Override
    public int[] encodeOrdinary(String text) {
        IntList out = new IntList(text.length() / 3 + 4);
        encodeInto(text, false, out);
        return out.toArray();
    }

    private void encodeInto(String text, boolean withSpecials, IntList out) {
        for (AddedVocabulary.Segment s : added.split(text, withSpecials)) {
            switch (s) {
                case AddedVocabulary.Segment.Token t -> out.add(t.id());
                case AddedVocabulary.Segment.Text t -> encodePlain(t.text(), t.atStart(), out);
            }
        }
    }

    private void encodePlain(String text, boolean atStart, IntList out) {
        String s = normalizer == null ? text : normalizer.normalize(text);
        if (s.isEmpty()) {
            return;
        }
        List<String> pieces = preTokenizer == null ? List.of(s) : preTokenizer.apply(List.of(s), atStart);
        for (String p : pieces) {
            out.addAll(model.tokenize(p));
        }
    }

    /** The pieces the normalizer and pre-tokenizer make of plain text (for tests and debugging). */
    List<String> preTokenize(String text) {
        String s = normalizer == null ? text : normalizer.normalize(text);
        return preTokenizer == null ? List.of(s) : preTokenizer.apply(List.of(s), true);
    }

    /**
     * Encodes raw bytes as the text they spell, special tokens recognized; bytes that are not well-formed UTF-8 are
     * carried through the pipeline as escapes (see {@link Utf8}) and become byte-level tokens, byte-fallback tokens or,
     * failing both, the unknown token. For byte-level tokenizers without a normalizer or prefix space,
     * {@code decodeBytes(encode(bytes))} equals {@code bytes}.
     */
    @Override
    public int[] encode(byte[] bytes) {
        return encode(Utf8.decodeEscaped(bytes));
    }

    @Override
    public byte[] decodeBytes(int[] ids) {
        List<byte[]> pieces = new ArrayList<>(ids.length);
        for (int id : ids) {
            pieces.add(token(id).getBytes(StandardCharsets.UTF_8));
        }
        if (decoder != null) {
            pieces = decoder.decode(pieces);
        } else {
            // Hugging Face joins tokens with spaces when there is no decoder
            List<byte[]> joined = new ArrayList<>(pieces.size() * 2);
            for (int i = 0; i < pieces.size(); i++) {
                if (i > 0) {
                    joined.add(new byte[] {' '});
                }
                joined.add(pieces.get(i));
            }
            pieces = joined;
        }
        int total = 0;
        for (byte[] p : pieces) {
            total += p.length;
        }
        byte[] out = new byte[total];
        int pos = 0;
        for (byte[] p : pieces) {
            System.arraycopy(p, 0, out, pos, p.length);
            pos += p.length;
        }
        return out;
    }

    @Override
    public int vocabSize() {
        return idToToken.length;
    }

    @Override
    public OptionalInt bosId() {
        return bos;
    }

    @Override
    public OptionalInt eosId() {
        return eos;
    }

    @Override
    public OptionalInt tokenId(String token) {
        Integer id = vocab.get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    @Override
    public String token(int id) {
        if (id < 0 || id >= idToToken.length || idToToken[id] == null) {
            throw new IllegalArgumentException("token id " + id + " is not in the vocabulary of " + source + " (size "
                    + idToToken.length + (id >= 0 && id < idToToken.length ? ", the id is unused" : "") + ")");
        }
        return idToToken[id];
    }

    @Override
    public boolean isSpecial(int id) {
        AddedVocabulary.AddedToken t = added.byId(id);
        return t != null && t.special();
    }

    @Override
    public Map<String, Integer> specialTokens() {
        return specials;
    }

    @Override
    public String toString() {
        return "HfTokenizer[" + source + ", vocab " + vocabSize() + (byteLevel ? ", byte-level" : "") + "]";
    }

    private static String abbreviate(String s) {
        return s.length() <= 200 ? s : s.substring(0, 200) + "…";
    }
}
