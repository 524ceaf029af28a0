package fulgur.tokenizer;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import fulgur.io.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Builds small tokenizer.json files for tests. */
final class TinyTokenizers {

    static final String LLAMA3_PATTERN =
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    private TinyTokenizers() {}

    /** Byte-level vocabulary: id b is byte b's character; then the merges' results in order; then specials. */
    static ObjectNode byteLevel(List<String[]> merges, boolean arrayMerges, List<String> specials) {
        ObjectNode root = Json.mapper().createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", false);
        ObjectNode vocab = model.putObject("vocab");
        int id = 0;
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(ByteLevel.charOf(b)), id++);
        }
        ArrayNode m = model.putArray("merges");
        for (String[] pair : merges) {
            String merged = pair[0] + pair[1];
            if (!vocab.has(merged)) {
                vocab.put(merged, id++);
            }
            if (arrayMerges) {
                m.addArray().add(pair[0]).add(pair[1]);
            } else {
                m.add(pair[0] + " " + pair[1]);
            }
        }
        ArrayNode added = root.putArray("added_tokens");
        for (String s : specials) {
            ObjectNode t = added.addObject();
            t.put("id", id++);
            t.put("content", s);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
        }
        root.putNull("normalizer");
        ObjectNode pre = root.putObject("pre_tokenizer");
        pre.put("type", "ByteLevel");
        pre.put("add_prefix_space", false);
        pre.put("trim_offsets", true);
        pre.put("use_regex", true);
        ObjectNode post = root.putObject("post_processor");
        post.put("type", "ByteLevel");
        post.put("add_prefix_space", true);
        post.put("trim_offsets", false);
        post.put("use_regex", true);
        ObjectNode dec = root.putObject("decoder");
        dec.put("type", "ByteLevel");
        dec.put("add_prefix_space", true);
        dec.put("trim_offsets", true);
        dec.put("use_regex", true);
        return root;
    }

    /** Replaces the pre-tokenizer by Llama 3's: Split(pattern, Isolated) then ByteLevel without regex. */
    static ObjectNode llama3Style(ObjectNode root) {
        ObjectNode seq = root.putObject("pre_tokenizer");
        seq.put("type", "Sequence");
        ArrayNode list = seq.putArray("pretokenizers");
        ObjectNode split = list.addObject();
        split.put("type", "Split");
        split.putObject("pattern").put("Regex", LLAMA3_PATTERN);
        split.put("behavior", "Isolated");
        split.put("invert", false);
        ObjectNode bl = list.addObject();
        bl.put("type", "ByteLevel");
        bl.put("add_prefix_space", false);
        bl.put("trim_offsets", true);
        bl.put("use_regex", false);
        ((ObjectNode) root.get("model")).put("ignore_merges", true);
        return root;
    }

    static Path write(Path dir, String name, ObjectNode root) throws IOException {
        Path f = dir.resolve(name);
        Files.createDirectories(f.getParent());
        Files.writeString(f, Json.toJson(root));
        return f;
    }

    static String[] m(String a, String b) {
        return new String[] {a, b};
    }
}
