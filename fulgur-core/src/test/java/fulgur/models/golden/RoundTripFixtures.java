package fulgur.models.golden;

import com.fasterxml.jackson.databind.node.ObjectNode;
import fulgur.autograd.GradMode;
import fulgur.io.Json;
import fulgur.io.safetensors.TensorIo;
import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The fulgur side of the checkpoint round trips: a fulgur-made model (seeded, 1-D parameters perturbed so none is 1 or
 * 0) written by {@link ReferenceCheckpoint#save} — what {@code fulgur convert --to reference} runs — into
 * {@code golden/roundtrip/<arch>/checkpoint/}, with input ids and our logits in {@code fulgur.safetensors}. The
 * reference code then loads the checkpoint (scripts/golden) and records what it computed beside them.
 * {@link GoldenRoundTripTest} checks that these committed files are what this class writes today.
 *
 * <p>Regenerate (from fulgur-core/): {@code java -cp target/classes:target/test-classes:<deps> fulgur.models.golden.RoundTripFixtures src/test/resources/golden/roundtrip}
 * — or run {@code ./mvnw -o -q test -pl fulgur-core -Dtest=GoldenRoundTripTest -Dgolden.write=true}.
 */
public final class RoundTripFixtures {
    static final String[] ARCHS = {"minimax", "tnl"};
    static final int BATCH = 2;
    static final int SEQ = 24;
    static final int VOCAB = 300;

    private RoundTripFixtures() {}

    public static void main(String[] args) throws IOException {
        Path root = args.length > 0 ? Path.of(args[0]) : Golden.ROOT.resolve("roundtrip");
        for (String arch : ARCHS) {
            write(arch, root.resolve(arch));
        }
    }

    /** config.json of the round-trip model: small, untied, every optional feature on. */
    static String config(String arch) throws IOException {
        Architecture a = Architectures.byName(arch);
        ObjectNode n = (ObjectNode) Json.mapper().readTree(a.smallConfig(VOCAB, 32, 3, arch.equals("tnl") ? 2 : 4));
        if (arch.equals("minimax")) {
            // softmax first (transformers' MiniMaxCache reads the sequence length from layer 0), two lightning layers
            // whose
            // 24-token prefill spans two blocks of 16, DeepNorm weights away from 1
            n.putArray("attn_type_list").add(1).add(0).add(0);
            n.put("block_size", 16);
            n.put("layernorm_full_attention_alpha", 1.3);
            n.put("layernorm_full_attention_beta", 0.8);
            n.put("layernorm_linear_attention_alpha", 1.2);
            n.put("layernorm_linear_attention_beta", 0.9);
            n.put("layernorm_mlp_alpha", 1.1);
            n.put("layernorm_mlp_beta", 0.7);
        } else {
            n.putArray("linear_use_lrpe_list").add(1).add(0).add(1);
            n.put("bias", true);
            n.put("tie_word_embeddings", false);
        }
        return Json.mapper().writerWithDefaultPrettyPrinter().writeValueAsString(n);
    }

    static void write(String arch, Path dir) throws IOException {
        Files.createDirectories(dir);
        try (Scope s = Scope.open();
                LanguageModel m = Architectures.byName(arch).build(config(arch), 21);
                var off = GradMode.noGrad()) {
            Rng rng = new Rng(22);
            m.module().namedParameters().forEach((name, p) -> {
                if (p.shape().length == 1) {
                    p.replace(p.value().add(rng.normal(0, 0.3, p.shape())));
                }
            });
            ReferenceCheckpoint.save(m, dir.resolve("checkpoint"), DType.F32, Long.MAX_VALUE);
            Tensor ids = ids(23);
            m.module().train(false);
            Tensor logits = m.forward(Golden.ids(ids));
            TensorIo.save(
                    dir.resolve("fulgur.safetensors"),
                    Map.of("input_ids", ids, "logits", logits),
                    Map.of("format", "pt"));
        }
    }

    /** [BATCH, SEQ] int64 ids in [3, VOCAB): ids 0-2 (pad/bos/eos of the reference configs) left out. */
    static Tensor ids(long seed) {
        Rng r = new Rng(seed);
        long[] v = new long[BATCH * SEQ];
        for (int i = 0; i < v.length; i++) {
            v[i] = 3 + r.nextInt(VOCAB - 3);
        }
        return Tensor.ofLongs(v, BATCH, SEQ);
    }
}
