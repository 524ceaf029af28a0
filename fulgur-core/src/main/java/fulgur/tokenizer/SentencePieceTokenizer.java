package fulgur.tokenizer;

import com.google.protobuf.InvalidProtocolBufferException;
import fulgur.io.MalformedFileException;
import fulgur.tokenizer.sentencepiece.SentencePieceModel.ModelProto;
import fulgur.tokenizer.sentencepiece.SentencePieceModel.ModelProto.SentencePiece.Type;
import fulgur.tokenizer.sentencepiece.SentencePieceModel.NormalizerSpec;
import fulgur.tokenizer.sentencepiece.SentencePieceModel.TrainerSpec;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
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
 * A SentencePiece model file ({@code tokenizer.model}, a serialized {@code ModelProto}) of type Unigram or BPE, encoding
 * as the {@code sentencepiece} library does: its normalizer (precompiled rules such as {@code nmt_nfkc}, dummy prefix,
 * extra whitespace removal, spaces as {@code ▁}, user-defined symbols kept whole), then the Unigram Viterbi search in
 * f32 scores or the BPE merges by score, then unknown pieces as their UTF-8 bytes ({@code byte_fallback}) or one
 * unknown id per run. Control symbols written in the text ({@code <s>}) are text, as in SentencePiece.
 */
public final class SentencePieceTokenizer implements Tokenizer {
    private static final byte[] SPACE_SYMBOL = "\u2581".getBytes(StandardCharsets.UTF_8);

    private final Path source;
    private final String[] pieces;
    private final float[] scores;
    private final Type[] types;
    private final Map<String, Integer> normalPieces = new HashMap<>();
    private final Map<String, Integer> reserved = new HashMap<>();
    private final UnigramModel.PieceTrie trie = new UnigramModel.PieceTrie();
    private final UnigramModel.PieceTrie userDefined = new UnigramModel.PieceTrie();
    private final boolean bpe;
    private final boolean byteFallback;
    private final int unkId;
    private final OptionalInt bos;
    private final OptionalInt eos;
    private final byte[] unkSurface;
    private final CharsMap charsMap;
    private final boolean addDummyPrefix;
    private final boolean removeExtraWhitespaces;
    private final boolean escapeWhitespaces;
    private final boolean whitespaceAsSuffix;
    private final float minScore;
    private final float maxScore;
    private final Map<String, Integer> specials;

    private SentencePieceTokenizer(Path source, ModelProto m) throws MalformedFileException {
        this.source = source;
        int n = m.getPiecesCount();
        if (n == 0) {
            throw new MalformedFileException(source, "the SentencePiece model has no pieces");
        }
        TrainerSpec t = m.getTrainerSpec();
        this.bpe = t.getModelType() == TrainerSpec.ModelType.BPE;
        if (!bpe && t.getModelType() != TrainerSpec.ModelType.UNIGRAM) {
            throw new MalformedFileException(
                    source, "unsupported SentencePiece model type " + t.getModelType() + " (supported: UNIGRAM, BPE)");
        }
        pieces = new String[n];
        scores = new float[n];
        types = new Type[n];
        float min = Float.MAX_VALUE;
        float max = Float.MIN_NORMAL; // FLT_MIN, as SentencePiece starts
        int unk = -1;
        Map<String, Integer> sp = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            ModelProto.SentencePiece p = m.getPieces(i);
            pieces[i] = p.getPiece();
            scores[i] = p.getScore();
            types[i] = p.getType();
            boolean normal = types[i] == Type.NORMAL || types[i] == Type.USER_DEFINED || types[i] == Type.UNUSED;
            if ((normal ? normalPieces : reserved).putIfAbsent(pieces[i], i) != null) {
                throw new MalformedFileException(source, "piece \"" + pieces[i] + "\" (id " + i + ") is listed twice");
            }
            if (normal) {
                trie.put(pieces[i].getBytes(StandardCharsets.UTF_8), i);
            }
            if (types[i] == Type.USER_DEFINED) {
                userDefined.put(pieces[i].getBytes(StandardCharsets.UTF_8), i);
            }
            if (types[i] == Type.NORMAL) {
                min = Math.min(min, scores[i]);
                max = Math.max(max, scores[i]);
            }
            if (types[i] == Type.UNKNOWN) {
                unk = i;
            }
            if (types[i] == Type.CONTROL || types[i] == Type.UNKNOWN) {
                sp.put(pieces[i], i);
            }
        }
        if (unk < 0) {
            throw new MalformedFileException(source, "the SentencePiece model has no unknown piece");
        }
        unkId = unk;
        minScore = min;
        maxScore = max;
        byteFallback = t.getByteFallback();
        bos = idIn(t.getBosId(), n);
        eos = idIn(t.getEosId(), n);
        unkSurface = t.getUnkSurface().getBytes(StandardCharsets.UTF_8);
        NormalizerSpec ns = m.getNormalizerSpec();
        try {
            charsMap = ns.getPrecompiledCharsmap().isEmpty()
                    ? null
                    : CharsMap.parse(ns.getPrecompiledCharsmap().toByteArray());
        } catch (IllegalArgumentException e) {
            throw new MalformedFileException(source, e.getMessage(), e);
        }
        addDummyPrefix = ns.getAddDummyPrefix();
        removeExtraWhitespaces = ns.getRemoveExtraWhitespaces();
        escapeWhitespaces = ns.getEscapeWhitespaces();
        whitespaceAsSuffix = t.getTreatWhitespaceAsSuffix();
        specials = Collections.unmodifiableMap(sp);
    }

    private static OptionalInt idIn(int id, int n) {
        return id >= 0 && id < n ? OptionalInt.of(id) : OptionalInt.empty();
    }

    /**
     * Reads a {@code tokenizer.model} file.
     *
     * @param file the file
     * @return the tokenizer
     * @throws java.io.IOException when the file cannot be read
     * @throws fulgur.io.MalformedFileException when it is not a SentencePiece model, or one of an unsupported kind
     */
    public static SentencePieceTokenizer load(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return new SentencePieceTokenizer(file, ModelProto.parseFrom(in));
        } catch (InvalidProtocolBufferException e) {
            throw new MalformedFileException(file, "not a SentencePiece model (" + e.getMessage() + ")", e);
        }
    }

    /**
     * Whether this is a BPE model (else Unigram).
     *
     * @return true for BPE
     */
    public boolean isBpe() {
        return bpe;
    }

    // ---- normalization

    /** The normalized UTF-8 bytes SentencePiece's normalizer makes of {@code in}. */
    byte[] normalize(byte[] in) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(in.length + 8);
        int pos = 0;
        if (removeExtraWhitespaces) {
            while (pos < in.length) {
                Prefix p = prefix(in, pos);
                if (!(p.text.length == 1 && p.text[0] == ' ')) {
                    break;
                }
                pos += p.consumed;
            }
        }
        if (pos == in.length) {
            return new byte[0];
        }
        if (!whitespaceAsSuffix && addDummyPrefix) {
            addSpace(out);
        }
        boolean prevSpace = removeExtraWhitespaces;
        while (pos < in.length) {
            Prefix p = prefix(in, pos);
            int a = 0;
            if (prevSpace) {
                while (a < p.text.length && p.text[a] == ' ') {
                    a++;
                }
            }
            if (a < p.text.length) {
                for (int k = a; k < p.text.length; k++) {
                    if (escapeWhitespaces && p.text[k] == ' ') {
                        out.writeBytes(SPACE_SYMBOL);
                    } else {
                        out.write(p.text[k]);
                    }
                }
                prevSpace = p.text[p.text.length - 1] == ' ';
            }
            pos += p.consumed;
            if (!removeExtraWhitespaces) {
                prevSpace = false;
            }
        }
        byte[] r = out.toByteArray();
        int len = r.length;
        if (removeExtraWhitespaces) {
            byte[] space = escapeWhitespaces ? SPACE_SYMBOL : new byte[] {' '};
            while (len >= space.length && java.util.Arrays.equals(r, len - space.length, len, space, 0, space.length)) {
                len -= space.length;
            }
        }
        ByteArrayOutputStream fin = new ByteArrayOutputStream(len + 4);
        fin.write(r, 0, len);
        if (whitespaceAsSuffix && addDummyPrefix) {
            addSpace(fin);
        }
        return fin.toByteArray();
    }

    private void addSpace(ByteArrayOutputStream out) {
        if (escapeWhitespaces) {
            out.writeBytes(SPACE_SYMBOL);
        } else {
            out.write(' ');
        }
    }

    private record Prefix(byte[] text, int consumed) {}

    private static final byte[] REPLACEMENT = {(byte) 0xEF, (byte) 0xBF, (byte) 0xBD};

    /** SentencePiece's NormalizePrefix: a user-defined symbol, else the longest rule, else one character. */
    private Prefix prefix(byte[] in, int pos) {
        int ud = longestUserDefined(in, pos);
        if (ud > 0) {
            return new Prefix(java.util.Arrays.copyOfRange(in, pos, pos + ud), ud);
        }
        if (charsMap != null) {
            int len = 0;
            int value = 0;
            for (int[] m : charsMap.prefixes(in, pos, in.length)) {
                if (len == 0 || m[0] > len) {
                    len = m[0];
                    value = m[1];
                }
            }
            if (len > 0) {
                return new Prefix(charsMap.replacement(value), len);
            }
        }
        int len = Utf8.validSequenceLength(in, pos);
        if (len == 0) {
            return new Prefix(REPLACEMENT, 1);
        }
        return new Prefix(java.util.Arrays.copyOfRange(in, pos, pos + len), len);
    }

    private int longestUserDefined(byte[] s, int pos) {
        List<int[]> m = new ArrayList<>(1);
        userDefined.prefixes(s, pos, m);
        return m.isEmpty() ? 0 : m.getLast()[1];
    }

    // ---- segmentation

    /** A piece of the segmentation: its byte span in the normalized text and its id. */
    private record Piece(int from, int to, int id) {}

    private List<Piece> unigram(byte[] s) {
        int size = s.length;
        float[] best = new float[size + 1];
        int[] startsAt = new int[size + 1];
        int[] ids = new int[size + 1];
        java.util.Arrays.fill(startsAt, -1);
        float unkScore = minScore - 10.0f;
        List<int[]> matches = new ArrayList<>();
        for (int start = 0; start < size; ) {
            float here = best[start];
            int mblen = Math.min(UnigramModel.charLength(s[start]), size - start);
            boolean single = false;
            matches.clear();
            trie.prefixes(s, start, matches);
            for (int[] m : matches) {
                int id = m[0];
                if (types[id] == Type.UNUSED) {
                    continue;
                }
                int length = m[1];
                int end = start + length;
                double score = types[id] == Type.USER_DEFINED ? (double) (length * maxScore) - 0.1 : scores[id];
                double cand = score + here;
                if (startsAt[end] < 0 || cand > best[end]) {
                    best[end] = (float) cand;
                    startsAt[end] = start;
                    ids[end] = id;
                }
                single |= length == mblen;
            }
            if (!single) {
                int end = start + mblen;
                float cand = unkScore + here;
                if (startsAt[end] < 0 || cand > best[end]) {
                    best[end] = cand;
                    startsAt[end] = start;
                    ids[end] = unkId;
                }
            }
            start += mblen;
        }
        List<Piece> out = new ArrayList<>();
        for (int end = size; end > 0; end = startsAt[end]) {
            out.add(new Piece(startsAt[end], end, ids[end]));
        }
        Collections.reverse(out);
        return out;
    }

    private List<Piece> bpe(byte[] s) {
        // symbols as a linked list over byte spans; user-defined symbols are frozen
        int cap = s.length;
        int[] from = new int[cap];
        int[] to = new int[cap];
        int[] prev = new int[cap];
        int[] next = new int[cap];
        boolean[] frozen = new boolean[cap];
        int n = 0;
        for (int pos = 0; pos < s.length; ) {
            int ud = longestUserDefined(s, pos);
            int len = ud > 0 ? ud : Math.min(UnigramModel.charLength(s[pos]), s.length - pos);
            from[n] = pos;
            to[n] = pos + len;
            frozen[n] = ud > 0;
            prev[n] = n - 1;
            pos += len;
            next[n] = pos < s.length ? n + 1 : -1;
            n++;
        }
        if (n == 0) {
            return List.of();
        }
        // agenda: highest score first, then leftmost
        record Pair(int left, int right, float score, int size) {}
        java.util.PriorityQueue<Pair> agenda = new java.util.PriorityQueue<>(
                (a, b) -> a.score != b.score ? Float.compare(b.score, a.score) : Integer.compare(a.left, b.left));
        Map<String, int[]> revMerge = new HashMap<>();
        java.util.function.BiConsumer<Integer, Integer> maybeAdd = (l, r) -> {
            if (l < 0 || r < 0 || frozen[l] || frozen[r]) {
                return;
            }
            String piece = new String(s, from[l], to[r] - from[l], StandardCharsets.UTF_8);
            Integer id = normalPieces.get(piece);
            if (id == null) {
                return;
            }
            agenda.add(new Pair(l, r, scores[id], to[r] - from[l]));
            if (types[id] == Type.UNUSED) {
                revMerge.put(piece, new int[] {from[l], to[l], from[r], to[r]});
            }
        };
        for (int i = 1; i < n; i++) {
            maybeAdd.accept(i - 1, i);
        }
        while (!agenda.isEmpty()) {
            Pair top = agenda.poll();
            int l = top.left;
            int r = top.right;
            if (to[l] == from[l]
                    || to[r] == from[r]
                    || (to[l] - from[l]) + (to[r] - from[r]) != top.size
                    || next[l] != r) {
                continue;
            }
            to[l] = to[r];
            from[r] = to[r]; // emptied
            next[l] = next[r];
            if (next[r] >= 0) {
                prev[next[r]] = l;
            }
            maybeAdd.accept(prev[l], l);
            maybeAdd.accept(l, next[l]);
        }
        List<Piece> out = new ArrayList<>();
        for (int i = 0; i >= 0; i = next[i]) {
            resegment(s, from[i], to[i], revMerge, out);
        }
        return out;
    }

    private void resegment(byte[] s, int a, int b, Map<String, int[]> revMerge, List<Piece> out) {
        String w = new String(s, a, b - a, StandardCharsets.UTF_8);
        Integer id = normalPieces.get(w);
        if (id == null) {
            id = reserved.getOrDefault(w, unkId);
        }
        if (types[id] != Type.UNUSED) {
            out.add(new Piece(a, b, id));
            return;
        }
        int[] split = revMerge.get(w);
        if (split == null) {
            out.add(new Piece(a, b, id));
            return;
        }
        resegment(s, a, a + (split[1] - split[0]), revMerge, out);
        resegment(s, a + (split[1] - split[0]), b, revMerge, out);
    }

    // ---- Tokenizer

    @Override
    public int[] encode(String text) {
        return encode(Utf8.encodeEscaped(text));
    }

    @Override
    public int[] encodeOrdinary(String text) {
        return encode(text);
    }

    @Override
    public int[] encode(byte[] bytes) {
        byte[] s = normalize(bytes);
        List<Piece> segmentation = bpe ? bpe(s) : unigram(s);
        IntList out = new IntList(segmentation.size() + 4);
        boolean prevUnk = false;
        for (Piece p : segmentation) {
            boolean unk = p.id == unkId;
            if (unk && byteFallback) {
                for (int i = p.from; i < p.to; i++) {
                    Integer b = reserved.get(String.format("<0x%02X>", s[i] & 0xFF));
                    out.add(b != null ? b : unkId);
                }
            } else if (!(unk && prevUnk)) {
                out.add(p.id);
            }
            prevUnk = unk;
        }
        return out.toArray();
    }

    @Override
    public byte[] decodeBytes(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(ids.length * 4);
        boolean first = true;
        for (int id : ids) {
            String p = token(id);
            Type t = types[id];
            if (t == Type.CONTROL) {
                continue;
            }
            if (t == Type.UNKNOWN) {
                out.writeBytes(unkSurface);
                first = false;
                continue;
            }
            if (t == Type.BYTE) {
                int b = Decoder.ByteFallback.byteToken(p.getBytes(StandardCharsets.UTF_8));
                if (b >= 0) {
                    out.write(b);
                    first = false;
                    continue;
                }
            }
            if (first && (addDummyPrefix || removeExtraWhitespaces) && !whitespaceAsSuffix && p.startsWith("\u2581")) {
                p = p.substring(1);
            }
            out.writeBytes(p.replace('\u2581', ' ').getBytes(StandardCharsets.UTF_8));
            first = false;
        }
        return out.toByteArray();
    }

    @Override
    public int vocabSize() {
        return pieces.length;
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
        Integer id = normalPieces.get(token);
        if (id == null) {
            id = reserved.get(token);
        }
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    @Override
    public String token(int id) {
        if (id < 0 || id >= pieces.length) {
            throw new IllegalArgumentException(
                    "token id " + id + " is not in the vocabulary of " + source + " (size " + pieces.length + ")");
        }
        return pieces[id];
    }

    @Override
    public boolean isSpecial(int id) {
        return id >= 0 && id < types.length && types[id] == Type.CONTROL;
    }

    @Override
    public Map<String, Integer> specialTokens() {
        return specials;
    }

    @Override
    public String toString() {
        return "SentencePieceTokenizer[" + source + ", " + (bpe ? "BPE" : "Unigram") + ", vocab " + pieces.length
                + (byteFallback ? ", byte fallback" : "") + "]";
    }
}
