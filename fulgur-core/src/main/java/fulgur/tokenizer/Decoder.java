package fulgur.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A Hugging Face decoder: turns the vocabulary strings of ids back into text. Pieces are kept as UTF-8 bytes so that
 * byte-level and byte-fallback tokens decode to exactly the bytes they stand for.
 */
sealed interface Decoder {

    List<byte[]> decode(List<byte[]> pieces);

    /** Byte-level characters back to bytes; a piece with another character is kept as its UTF-8. */
    record ByteLevelDecoder() implements Decoder {
        @Override
        public List<byte[]> decode(List<byte[]> pieces) {
            List<byte[]> out = new ArrayList<>(pieces.size());
            for (byte[] p : pieces) {
                byte[] b = ByteLevel.decodeOrNull(new String(p, StandardCharsets.UTF_8));
                out.add(b != null ? b : p);
            }
            return out;
        }
    }

    /** Pieces of the form {@code <0xAB>} become the byte they name. */
    record ByteFallback() implements Decoder {
        @Override
        public List<byte[]> decode(List<byte[]> pieces) {
            List<byte[]> out = new ArrayList<>(pieces.size());
            for (byte[] p : pieces) {
                int b = byteToken(p);
                out.add(b >= 0 ? new byte[] {(byte) b} : p);
            }
            return out;
        }

        static int byteToken(byte[] p) {
            if (p.length != 6 || p[0] != '<' || p[1] != '0' || p[2] != 'x' || p[5] != '>') {
                return -1;
            }
            int hi = Character.digit(p[3], 16);
            int lo = Character.digit(p[4], 16);
            return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
        }
    }

    /** Joins all pieces into one. */
    record Fuse() implements Decoder {
        @Override
        public List<byte[]> decode(List<byte[]> pieces) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (byte[] p : pieces) {
                out.writeBytes(p);
            }
            return List.of(out.toByteArray());
        }
    }

    /** Replaces every occurrence of a literal string. */
    record Replace(byte[] pattern, byte[] content) implements Decoder {
        @Override
        public List<byte[]> decode(List<byte[]> pieces) {
            List<byte[]> out = new ArrayList<>(pieces.size());
            for (byte[] p : pieces) {
                out.add(replaceAll(p, pattern, content));
            }
            return out;
        }
    }

    /** Removes up to {@code start} leading and {@code stop} trailing occurrences of a character from each piece. */
    record Strip(byte[] content, int start, int stop) implements Decoder {
        @Override
        public List<byte[]> decode(List<byte[]> pieces) {
            List<byte[]> out = new ArrayList<>(pieces.size());
            int w = content.length;
            for (byte[] p : pieces) {
                int a = 0;
                for (int k = 0; k < start && a + w <= p.length && Arrays.equals(p, a, a + w, content, 0, w); k++) {
                    a += w;
                }
                int b = p.length;
                for (int k = 0; k < stop && b - w >= a && Arrays.equals(p, b - w, b, content, 0, w); k++) {
                    b -= w;
                }
                out.add(Arrays.copyOfRange(p, a, b));
            }
            return out;
        }
    }

    /** The replacement character back to spaces; the first piece loses the prepended one. */
    record Metaspace(byte[] replacement, boolean prepended) implements Decoder {
        private static final byte[] SPACE = {' '};

        @Override
        public List<byte[]> decode(List<byte[]> pieces) {
            List<byte[]> out = new ArrayList<>(pieces.size());
            for (int i = 0; i < pieces.size(); i++) {
                out.add(replaceAll(pieces.get(i), replacement, i == 0 && prepended ? new byte[0] : SPACE));
            }
            return out;
        }
    }

    /** WordPiece: the continuing prefix removed, other pieces after the first preceded by a space; BERT's cleanup. */
    record WordPiece(String prefix, boolean cleanup) implements Decoder {
        @Override
        public List<byte[]> decode(List<byte[]> pieces) {
            List<byte[]> out = new ArrayList<>(pieces.size());
            for (int i = 0; i < pieces.size(); i++) {
                String t = new String(pieces.get(i), StandardCharsets.UTF_8);
                if (i != 0) {
                    t = t.startsWith(prefix) ? t.substring(prefix.length()) : " " + t;
                }
                if (cleanup) {
                    t = t.replace(" .", ".")
                            .replace(" ?", "?")
                            .replace(" !", "!")
                            .replace(" ,", ",")
                            .replace(" ' ", "'")
                            .replace(" n't", "n't")
                            .replace(" 'm", "'m")
                            .replace(" do not", " don't")
                            .replace(" 's", "'s")
                            .replace(" 've", "'ve")
                            .replace(" 're", "'re");
                }
                out.add(t.getBytes(StandardCharsets.UTF_8));
            }
            return out;
        }
    }

    record Sequence(List<Decoder> decoders) implements Decoder {
        @Override
        public List<byte[]> decode(List<byte[]> pieces) {
            for (Decoder d : decoders) {
                pieces = d.decode(pieces);
            }
            return pieces;
        }
    }

    private static byte[] replaceAll(byte[] s, byte[] pattern, byte[] content) {
        if (pattern.length == 0 || s.length < pattern.length) {
            return s;
        }
        ByteArrayOutputStream out = null;
        int last = 0;
        for (int i = 0; i + pattern.length <= s.length; ) {
            if (Arrays.equals(s, i, i + pattern.length, pattern, 0, pattern.length)) {
                if (out == null) {
                    out = new ByteArrayOutputStream(s.length);
                }
                out.write(s, last, i - last);
                out.writeBytes(content);
                i += pattern.length;
                last = i;
            } else {
                i++;
            }
        }
        if (out == null) {
            return s;
        }
        out.write(s, last, s.length - last);
        return out.toByteArray();
    }

    /** Parses a tokenizer.json {@code decoder} node; {@code null} for none. */
    static Decoder parse(JsonNode node, TokenizerJson ctx) throws fulgur.io.MalformedFileException {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = ctx.type(node, "decoder");
        return switch (type) {
            case "ByteLevel" -> new ByteLevelDecoder();
            case "ByteFallback" -> new ByteFallback();
            case "Fuse" -> new Fuse();
            case "Replace" -> {
                JsonNode pattern = node.get("pattern");
                if (pattern == null || !pattern.has("String")) {
                    throw ctx.unsupported("decoder Replace with pattern " + pattern, "a {\"String\": ...} pattern");
                }
                yield new Replace(
                        pattern.get("String").asText().getBytes(StandardCharsets.UTF_8),
                        ctx.string(node, "content", "decoder Replace").getBytes(StandardCharsets.UTF_8));
            }
            case "Strip" ->
                new Strip(
                        ctx.string(node, "content", "decoder Strip").getBytes(StandardCharsets.UTF_8),
                        node.path("start").asInt(0),
                        node.path("stop").asInt(0));
            case "Metaspace" ->
                new Metaspace(
                        PreTokenizer.metaspaceReplacement(node, ctx).getBytes(StandardCharsets.UTF_8),
                        !PreTokenizer.prependScheme(node, ctx).equals("never"));
            case "WordPiece" ->
                new WordPiece(
                        node.path("prefix").asText("##"), node.path("cleanup").asBoolean(true));
            case "Sequence" -> {
                List<Decoder> list = new ArrayList<>();
                for (JsonNode child : ctx.array(node, "decoders", "decoder Sequence")) {
                    Decoder d = parse(child, ctx);
                    if (d != null) {
                        list.add(d);
                    }
                }
                yield new Sequence(List.copyOf(list));
            }
            default ->
                throw ctx.unsupported(
                        "decoder type \"" + type + "\"",
                        "ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace, WordPiece, Sequence");
        };
    }
}
