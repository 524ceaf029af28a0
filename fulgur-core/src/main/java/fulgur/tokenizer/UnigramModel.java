package fulgur.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import fulgur.io.MalformedFileException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face Unigram model (tokenizer.json {@code "type": "Unigram"}): the Viterbi segmentation of a word into
 * vocabulary pieces with the highest total log-probability, as {@code tokenizers} computes it: over UTF-8 byte
 * positions, candidates in order of length with a strictly-greater comparison (so the shorter piece wins a tie), a
 * character no piece covers costs {@code min score - 10} as the unknown token, consecutive unknown characters fuse
 * into one, and with {@code byte_fallback} an unknown stretch becomes its {@code <0xXX>} byte tokens.
 */
final class UnigramModel implements WordModel {
    /** tokenizers' K_UNK_PENALTY. */
    static final double UNK_PENALTY = 10.0;

    private final PieceTrie trie;
    private final double[] scores;
    private final Map<String, Integer> vocab;
    private final int unkId;
    private final boolean byteFallback;
    private final double unkScore;

    UnigramModel(List<String> pieces, double[] scores, int unkId, boolean byteFallback) {
        this.scores = scores;
        this.unkId = unkId;
        this.byteFallback = byteFallback;
        this.vocab = new HashMap<>(pieces.size() * 2);
        this.trie = new PieceTrie();
        double min = Double.POSITIVE_INFINITY;
        for (int i = 0; i < pieces.size(); i++) {
            vocab.putIfAbsent(pieces.get(i), i);
            trie.put(pieces.get(i).getBytes(StandardCharsets.UTF_8), i);
            min = Math.min(min, scores[i]);
        }
        this.unkScore = min - UNK_PENALTY;
    }

    static WordModel.Parts parse(JsonNode node, TokenizerJson ctx) throws MalformedFileException {
        JsonNode v = node.get("vocab");
        if (v == null || !v.isArray()) {
            throw ctx.malformed("Unigram model.vocab must be an array of [piece, score] pairs");
        }
        List<String> pieces = new ArrayList<>(v.size());
        double[] scores = new double[v.size()];
        Map<String, Integer> ids = new HashMap<>(v.size() * 2);
        Map<Integer, String> tokenOf = new HashMap<>(v.size() * 2);
        for (int i = 0; i < v.size(); i++) {
            JsonNode e = v.get(i);
            if (!e.isArray()
                    || e.size() != 2
                    || !e.get(0).isTextual()
                    || !e.get(1).isNumber()) {
                throw ctx.malformed("Unigram model.vocab[" + i + "] is " + e + ", expected [piece, score]");
            }
            pieces.add(e.get(0).asText());
            scores[i] = e.get(1).asDouble();
            ids.putIfAbsent(e.get(0).asText(), i);
            tokenOf.put(i, e.get(0).asText());
        }
        int unk = -1;
        JsonNode u = node.get("unk_id");
        if (u != null && !u.isNull()) {
            if (!u.canConvertToInt() || u.asInt() < 0 || u.asInt() >= pieces.size()) {
                throw ctx.malformed(
                        "Unigram model.unk_id " + u + " is not an id of the vocabulary (size " + pieces.size() + ")");
            }
            unk = u.asInt();
        }
        return new WordModel.Parts(
                new UnigramModel(pieces, scores, unk, node.path("byte_fallback").asBoolean(false)),
                ids,
                tokenOf,
                pieces.size() - 1);
    }

    @Override
    public int[] tokenize(String word) {
        if (word.isEmpty()) {
            return new int[0];
        }
        byte[] s = Utf8.encodeEscaped(word);
        int size = s.length;
        double[] best = new double[size + 1];
        int[] startsAt = new int[size + 1];
        int[] ids = new int[size + 1];
        java.util.Arrays.fill(startsAt, -1);
        List<int[]> matches = new ArrayList<>();
        for (int start = 0; start < size; ) {
            double here = best[start];
            int mblen = Math.min(charLength(s[start]), size - start);
            boolean single = false;
            matches.clear();
            trie.prefixes(s, start, matches);
            for (int[] m : matches) {
                int end = start + m[1];
                double cand = here + scores[m[0]];
                if (startsAt[end] < 0 || cand > best[end]) {
                    best[end] = cand;
                    startsAt[end] = start;
                    ids[end] = m[0];
                }
                single |= m[1] == mblen;
            }
            if (!single) {
                if (unkId < 0) {
                    throw new IllegalArgumentException("cannot tokenize \"" + word
                            + "\": a character is not in the Unigram vocabulary and the model has no unk_id");
                }
                int end = start + mblen;
                double cand = here + unkScore;
                if (startsAt[end] < 0 || cand > best[end]) {
                    best[end] = cand;
                    startsAt[end] = start;
                    ids[end] = unkId;
                }
            }
            start += mblen;
        }
        // backtrack, fusing consecutive unknown pieces
        IntList rev = new IntList(16);
        List<int[]> spans = new ArrayList<>();
        int end = size;
        while (end > 0) {
            int start = startsAt[end];
            int id = ids[end];
            if (id == unkId && !spans.isEmpty() && spans.getLast()[2] == unkId) {
                spans.getLast()[0] = start;
            } else {
                spans.add(new int[] {start, end, id});
            }
            end = start;
        }
        for (int k = spans.size() - 1; k >= 0; k--) {
            int[] sp = spans.get(k);
            if (sp[2] == unkId) {
                // a fused unknown stretch may itself be a vocabulary piece; else bytes, else the unknown token
                Integer whole = vocab.get(Utf8.decodeEscaped(java.util.Arrays.copyOfRange(s, sp[0], sp[1])));
                if (whole != null) {
                    rev.add(whole);
                    continue;
                }
                if (byteFallback && addBytes(s, sp[0], sp[1], rev)) {
                    continue;
                }
            }
            rev.add(sp[2]);
        }
        return rev.toArray();
    }

    /** The length of the UTF-8 sequence a lead byte starts (1 for a stray continuation byte). */
    static int charLength(byte lead) {
        int b = lead & 0xFF;
        return b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
    }

    private boolean addBytes(byte[] s, int from, int to, IntList out) {
        int[] b = new int[to - from];
        for (int i = from; i < to; i++) {
            Integer id = vocab.get(String.format("<0x%02X>", s[i] & 0xFF));
            if (id == null) {
                return false;
            }
            b[i - from] = id;
        }
        out.addAll(b);
        return true;
    }

    /** A byte trie of the pieces: every piece that is a prefix of a position, shortest first. */
    static final class PieceTrie {
        private static final class Node {
            final Map<Byte, Node> next = new HashMap<>(4);
            int id = -1;
        }

        private final Node root = new Node();

        void put(byte[] piece, int id) {
            Node n = root;
            for (byte b : piece) {
                n = n.next.computeIfAbsent(b, x -> new Node());
            }
            if (n.id < 0) {
                n.id = id;
            }
        }

        /** Adds {id, length} for each piece that starts at {@code s[from]}, by increasing length. */
        void prefixes(byte[] s, int from, List<int[]> out) {
            Node n = root;
            for (int i = from; i < s.length; i++) {
                n = n.next.get(s[i]);
                if (n == null) {
                    return;
                }
                if (n.id >= 0) {
                    out.add(new int[] {n.id, i + 1 - from});
                }
            }
        }
    }
}
