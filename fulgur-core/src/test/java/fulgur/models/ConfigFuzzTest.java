package fulgur.models;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import fulgur.io.Json;
import fulgur.tensor.Scope;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Label;
import net.jqwik.api.Property;

/**
 * Malformed config.json files, generated from every architecture's own small config: fields removed, replaced by
 * values of the wrong type or sign, fractional, out of the int range, or unknown fields added. Building the model
 * either succeeds, with nothing it was given silently changed (32.5 cut to 32, "32" read as 32), or fails with one
 * line naming what was wrong; nothing else escapes. Sizes stay small, so a valid config builds in a moment. Seeded.
 */
class ConfigFuzzTest {

    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private static JsonNode wrongValue(SplittableRandom r, JsonNode original) {
        return switch (r.nextInt(14)) {
            case 0 -> F.numberNode(-1);
            case 1 -> F.numberNode(0);
            case 2 -> F.numberNode(32.5);
            case 3 -> F.textNode("32");
            case 4 -> F.numberNode(3_000_000_000L);
            case 5 -> F.nullNode();
            case 6 -> F.booleanNode(r.nextBoolean());
            case 7 -> F.arrayNode().add(1).add("x");
            case 8 -> F.objectNode().put("a", 1);
            case 9 -> F.numberNode(new java.math.BigDecimal("1e400")); // beyond a double
            case 10 -> F.textNode("");
            case 11 ->
                original.isInt() ? F.numberNode(original.asInt() + r.nextInt(5) - 2) : F.numberNode(r.nextInt(9) - 2);
            default -> original.isInt() ? F.numberNode((double) original.asInt()) : F.textNode("silu");
        };
    }

    private static String mutate(SplittableRandom r, String json) {
        ObjectNode n = (ObjectNode) Json.parse(json, "config");
        List<String> fields = new ArrayList<>();
        n.fieldNames().forEachRemaining(fields::add);
        for (int i = 0, k = 1 + r.nextInt(3); i < k; i++) {
            String f = fields.get(r.nextInt(fields.size()));
            switch (r.nextInt(6)) {
                case 0 -> n.remove(f);
                case 1 -> n.set("unknown_" + r.nextInt(3), wrongValue(r, F.numberNode(1)));
                case 2 -> {
                    if (n.get(f) instanceof ArrayNode a && !a.isEmpty()) {
                        a.set(r.nextInt(a.size()), wrongValue(r, a.get(0)));
                    } else {
                        n.set(f, wrongValue(r, n.path(f)));
                    }
                }
                default -> n.set(f, wrongValue(r, n.path(f)));
            }
        }
        return n.toString();
    }

    @Property(tries = 300, seed = "21")
    @Label("mutated configs build or fail with one line")
    void mutatedConfigsBuildOrFailWithOneLine(@ForAll long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Architecture a = Architectures.all().get(r.nextInt(Architectures.all().size()));
        String json = mutate(r, a.smallConfig(40, 16, 2, 2));
        try (Scope s = Scope.open()) {
            LanguageModel m;
            try {
                m = Architectures.forConfig(json).build(json, 1);
            } catch (IllegalArgumentException | IllegalStateException e) {
                assertThat(e.getMessage()).as("%s for %s", e, json).isNotBlank().doesNotContain("\n");
                return;
            }
            try (m) {
                assertThat(m.parameterCount()).isPositive();
                assertThat(m.vocabSize()).isPositive();
                // nothing accepted was silently changed into something else: no fraction cut to an integer, no text
                // read as a number
                JsonNode given = Json.parse(json, "config");
                JsonNode built = Json.parse(m.configJson(), "config");
                Iterator<String> fields = given.fieldNames();
                while (fields.hasNext()) {
                    String f = fields.next();
                    JsonNode in = given.get(f);
                    JsonNode out = built.get(f);
                    if (out == null || out.isNull()) {
                        continue;
                    }
                    if (in.isNumber() && !in.isIntegralNumber() && in.doubleValue() != Math.rint(in.doubleValue())) {
                        assertThat(out.isIntegralNumber())
                                .as("field %s: %s became %s", f, in, out)
                                .isFalse();
                    }
                    if (in.isTextual()) {
                        assertThat(out.isNumber() || out.isBoolean())
                                .as("field %s: %s became %s", f, in, out)
                                .isFalse();
                    }
                }
            }
        }
    }
}
