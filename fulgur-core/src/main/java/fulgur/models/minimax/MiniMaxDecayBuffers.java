package fulgur.models.minimax;

import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The decay buffers transformers' MiniMaxLightningAttention registers (persistent, so save_pretrained writes them):
 * {@code slope_rate} [H, 1, 1], {@code query_decay} and {@code key_decay} [H, block, 1] and {@code diagonal_decay}
 * [1, H, block, block], all functions of the head count, the layer's depth and block_size. We derive them from the
 * config, so a checkpoint's copies are only checked: agreement to storage precision (f32 rounding of transformers'
 * own f32 arithmetic; bf16/f16 rounding for such checkpoints), else the config does not describe the checkpoint.
 */
final class MiniMaxDecayBuffers {
    private static final Pattern NAME =
            Pattern.compile("model\\.layers\\.(\\d+)\\.self_attn\\.(slope_rate|query_decay|key_decay|diagonal_decay)");

    private MiniMaxDecayBuffers() {}

    /** The buffer's kind if {@code name} is a lightning layer's decay buffer, else null. */
    static String bufferOf(String name) {
        Matcher m = NAME.matcher(name);
        return m.matches() ? m.group(2) : null;
    }

    /** The four buffers of lightning layer {@code layer}, by checkpoint name, in f32. */
    static Map<String, Tensor> of(MiniMaxConfig c, int layer) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        String p = "model.layers." + layer + ".self_attn.";
        for (String kind : new String[] {"slope_rate", "query_decay", "key_decay", "diagonal_decay"}) {
            out.put(p + kind, Tensor.of(DType.F32, values(c, layer, kind), shape(c, kind)));
        }
        return out;
    }

    /** Null when the checkpoint's buffer {@code name} agrees with the config, else one line saying how it differs. */
    static String check(MiniMaxConfig c, String name, Tensor t) {
        Matcher m = NAME.matcher(name);
        if (!m.matches()) {
            return name + " is not a decay buffer";
        }
        int layer = Integer.parseInt(m.group(1));
        String kind = m.group(2);
        if (layer >= c.numHiddenLayers() || c.softmax(layer)) {
            return name + ": layer " + layer + " is not a lightning-attention layer in config.json";
        }
        int[] want = shape(c, kind);
        if (!Arrays.equals(t.shape(), want)) {
            return name + " has shape " + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(want) + " for "
                    + describe(c);
        }
        double[] got = t.toDoubleArray();
        double[] exp = values(c, layer, kind);
        double rel = t.dtype() == DType.F32 || t.dtype() == DType.F64 ? 1e-5 : 1e-2;
        for (int i = 0; i < exp.length; i++) {
            if (!(Math.abs(got[i] - exp[i]) <= rel * Math.abs(exp[i]) + 1e-6)) {
                return name + " differs from the decay of " + describe(c) + " at flat index " + i + ": checkpoint "
                        + got[i] + ", config " + exp[i];
            }
        }
        return null;
    }

    private static String describe(MiniMaxConfig c) {
        return "num_attention_heads " + c.numAttentionHeads() + ", num_hidden_layers " + c.numHiddenLayers()
                + ", block_size " + c.blockSize();
    }

    private static int[] shape(MiniMaxConfig c, String kind) {
        int h = c.numAttentionHeads(), b = c.blockSize();
        return switch (kind) {
            case "slope_rate" -> new int[] {h, 1, 1};
            case "query_decay", "key_decay" -> new int[] {h, b, 1};
            default -> new int[] {1, h, b, b};
        };
    }

    /** transformers' decay_factors: exp(−s·(i+1)), exp(−s·(block−i−1)), exp(−s·(i−j)) for i ≥ j else 0. */
    private static double[] values(MiniMaxConfig c, int layer, String kind) {
        int h = c.numAttentionHeads(), b = c.blockSize();
        double[] s = MiniMaxLightningAttention.slopes(h, layer, c.numHiddenLayers());
        double[] out = new double
                [Math.multiplyExact(h, kind.equals("diagonal_decay") ? b * b : kind.equals("slope_rate") ? 1 : b)];
        for (int hh = 0; hh < h; hh++) {
            switch (kind) {
                case "slope_rate" -> out[hh] = s[hh];
                case "query_decay" -> {
                    for (int i = 0; i < b; i++) {
                        out[hh * b + i] = Math.exp(-s[hh] * (i + 1));
                    }
                }
                case "key_decay" -> {
                    for (int i = 0; i < b; i++) {
                        out[hh * b + i] = Math.exp(-s[hh] * (b - i - 1));
                    }
                }
                default -> {
                    for (int i = 0; i < b; i++) {
                        for (int j = 0; j <= i; j++) {
                            out[(hh * b + i) * b + j] = Math.exp(-s[hh] * (i - j));
                        }
                    }
                }
            }
        }
        return out;
    }
}
