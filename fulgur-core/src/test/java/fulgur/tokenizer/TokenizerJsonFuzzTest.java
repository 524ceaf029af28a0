package fulgur.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import fulgur.io.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Label;
import net.jqwik.api.Property;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Malformed tokenizer.json files, generated from valid GPT-2 and Llama-3 style ones: any node of the tree removed or
 * replaced by a value of the wrong type, a negative, fractional or huge id, a broken pattern. Loading either succeeds
 * — and the tokenizer then encodes and decodes text, or refuses with one line — or fails with an IOException naming
 * the file; nothing else escapes (no exhausted memory from an id of two billion). Seeded.
 */
class TokenizerJsonFuzzTest {

    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final List<String[]> MERGES = List.of(
            TinyTokenizers.m("Ġ", "t"),
            TinyTokenizers.m("h", "e"),
            TinyTokenizers.m("Ġt", "he"),
            TinyTokenizers.m("l", "l"),
            TinyTokenizers.m("1", "2"));
    private static Path dir;

    @BeforeContainer
    static void makeDir() throws IOException {
        dir = Files.createTempDirectory("fulgur-tok-fuzz");
    }

    @AfterContainer
    static void removeDir() throws IOException {
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        Files.delete(dir);
    }

    private static JsonNode wrongValue(SplittableRandom r) {
        return switch (r.nextInt(15)) {
            case 0 -> F.numberNode(-1);
            case 1 -> F.numberNode(2_000_000_000);
            case 2 -> F.numberNode(Integer.MAX_VALUE);
            case 3 -> F.numberNode(32.5);
            case 4 -> F.numberNode(1L << 40);
            case 5 -> F.textNode("x");
            case 6 -> F.textNode("");
            case 7 -> F.nullNode();
            case 8 -> F.booleanNode(true);
            case 9 -> F.arrayNode().add("a");
            case 10 -> F.objectNode().put("type", "Nonsense");
            case 11 -> F.objectNode().put("Regex", "([a-");
            case 12 -> F.numberNode(r.nextInt(300));
            case 13 -> F.arrayNode();
            default -> F.objectNode();
        };
    }

    /** Every (parent, key-or-index) of the tree, so that any node may be mutated. */
    private static void slots(JsonNode node, List<Object[]> out) {
        if (node instanceof ObjectNode o) {
            o.fieldNames().forEachRemaining(k -> out.add(new Object[] {o, k}));
            o.elements().forEachRemaining(c -> slots(c, out));
        } else if (node instanceof ArrayNode a) {
            for (int i = 0; i < a.size(); i++) {
                out.add(new Object[] {a, i});
                slots(a.get(i), out);
            }
        }
    }

    private static ObjectNode mutated(SplittableRandom r) {
        ObjectNode root = TinyTokenizers.byteLevel(MERGES, r.nextBoolean(), List.of("<|endoftext|>", "<pad>"));
        if (r.nextBoolean()) {
            TinyTokenizers.llama3Style(root);
        }
        for (int i = 0, k = 1 + r.nextInt(3); i < k; i++) {
            List<Object[]> slots = new ArrayList<>();
            slots(root, slots);
            Object[] s = slots.get(r.nextInt(slots.size()));
            boolean remove = r.nextInt(4) == 0;
            if (s[0] instanceof ObjectNode o) {
                if (remove) {
                    o.remove((String) s[1]);
                } else {
                    o.set((String) s[1], wrongValue(r));
                }
            } else if (s[0] instanceof ArrayNode a) {
                if (remove) {
                    a.remove((int) s[1]);
                } else {
                    a.set((int) s[1], wrongValue(r));
                }
            }
        }
        return root;
    }

    @Property(tries = 400, seed = "31")
    @Label("mutated tokenizer.json: loads and works, or names the file")
    void mutatedTokenizersLoadOrAreReported(@ForAll long seed) throws Exception {
        Path f = dir.resolve("tokenizer-" + Long.toHexString(seed) + ".json");
        Files.writeString(f, Json.toJson(mutated(new SplittableRandom(seed))));
        try {
            HfTokenizer tok;
            try {
                tok = HfTokenizer.fromJson(f);
            } catch (IOException e) {
                assertThat(e.getMessage()).startsWith(f.toString()).doesNotContain("\n");
                return;
            }
            assertThat(tok.vocabSize()).isBetween(1, HfTokenizer.MAX_VOCAB);
            try {
                int[] ids = tok.encode("the hello 12 héllo\n<|endoftext|>");
                for (int id : ids) {
                    assertThat(id).isBetween(0, tok.vocabSize() - 1);
                }
                tok.decode(ids);
            } catch (IllegalArgumentException | IllegalStateException e) {
                assertThat(e.getMessage()).isNotBlank().doesNotContain("\n");
            }
        } finally {
            Files.delete(f);
        }
    }
}
