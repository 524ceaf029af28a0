package fulgur.bench;

import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.models.llama.LlamaConfig;
import fulgur.models.tnl.TnlConfig;
import fulgur.tensor.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The random-weight models that decoding benchmarks load: a TransNormerLLM and a Llama of the same width, depth and
 * heads (f32, tied embeddings), each written by fulgur's reference-layout writer ({@link ReferenceCheckpoint#save})
 * as a Hugging Face directory (config.json, model.safetensors) with a {@link CharTokenizerJson} tokenizer.json, so a
 * Hugging Face Llama reader loads the Llama directory as it is.
 *
 * @param vocab  vocabulary (tokenizer and model)
 * @param dim    width
 * @param layers layers
 * @param heads  attention heads (the Llama's key/value heads are half as many)
 */
public record DecodeModels(int vocab, int dim, int layers, int heads) {
    /** Positions the Llama accepts (its config's max_position_embeddings). */
    public static final int MAX_POSITIONS = 32768;

    /** The Llama config: MLP ≈ 8/3·width, half as many key/value heads, BOS/EOS of {@link CharTokenizerJson}. */
    public String llamaConfig() {
        LlamaConfig s = LlamaConfig.small(LlamaConfig.LLAMA, vocab, dim, layers, heads);
        return new LlamaConfig(
                        LlamaConfig.LLAMA,
                        vocab,
                        dim,
                        s.intermediateSize(),
                        layers,
                        heads,
                        s.numKeyValueHeads(),
                        null,
                        "silu",
                        MAX_POSITIONS,
                        0.02,
                        1e-6,
                        10000.0,
                        null,
                        false,
                        false,
                        true,
                        null,
                        CharTokenizerJson.BOS,
                        CharTokenizerJson.EOS,
                        null,
                        null)
                .validate()
                .toJson();
    }

    /** The TNL config: GLU ≈ 8/3·width, tied embeddings. */
    public String tnlConfig() {
        return TnlConfig.small(vocab, dim, layers, heads)
                .withTiedEmbeddings(true)
                .validate()
                .toJson();
    }

    /** Writes {@code dir/llama} and {@code dir/tnl} unless they hold this shape already; returns the two directories. */
    public Path[] write(Path dir, long seed) throws IOException {
        Path llama = dir.resolve("llama");
        Path tnl = dir.resolve("tnl");
        writeOne(llama, llamaConfig(), seed);
        writeOne(tnl, tnlConfig(), seed);
        return new Path[] {tnl, llama};
    }

    private void writeOne(Path dir, String config, long seed) throws IOException {
        Path cfg = dir.resolve(ReferenceCheckpoint.CONFIG);
        if (Files.isRegularFile(cfg)
                && Files.isRegularFile(dir.resolve("tokenizer.json"))
                && Architectures.read(cfg)
                        .strip()
                        .equals(Architectures.forConfig(config)
                                .referenceConfig(config, DType.F32)
                                .strip())) {
            return;
        }
        try (LanguageModel m = Architectures.forConfig(config).build(config, seed)) {
            ReferenceCheckpoint.save(m, dir, DType.F32, Long.MAX_VALUE, true);
        }
        CharTokenizerJson.write(dir, vocab);
    }
}
