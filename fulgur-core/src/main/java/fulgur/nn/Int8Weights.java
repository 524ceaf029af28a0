package fulgur.nn;

import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Weight-only int8 quantization of linear layers, symmetric per output channel: for a weight W [out, in] each row o
 * gets scale s_o = max_i |W[o,i]| / 127 and q[o,i] = round(W[o,i] / s_o) ∈ [−127, 127], so W ≈ diag(s)·q with an
 * error of at most s_o/2 per weight. Checkpoints store q as {@code NAME.weight} (I8, [out, in]) and s as
 * {@code NAME.weight_scale} (F32, [out]); activations stay floating and products widen q a tile at a time
 * ({@link fulgur.ops.LinearAlgebra#linearInt8}).
 */
public final class Int8Weights {
    /** The suffix of a scale tensor's name next to its weight ("lm_head.weight" → "lm_head.weight_scale"). */
    public static final String SCALE_SUFFIX = "_scale";

    private Int8Weights() {}

    /**
     * Quantized weights and their per-channel scales.
     *
     * @param q the int8 weights [out, in]
     * @param scale the f32 scale of each output row [out]
     */
    public record Quantized(Tensor q, Tensor scale) {}

    /**
     * Quantizes w [out, in] (any floating dtype, any device); the result is on w's device.
     *
     * @param w the weight [out, in]
     * @return the int8 weights and the scales, with q·scale ≈ w row by row
     * @throws IllegalArgumentException when w is not a floating 2-D tensor
     */
    public static Quantized quantize(Tensor w) {
        if (w.ndim() != 2 || !w.dtype().isFloating()) {
            throw new IllegalArgumentException(
                    "int8 quantization: expected a floating weight [out, in], got " + w.describe());
        }
        int out = w.size(0), in = w.size(1);
        double[] v = w.detach().to(Device.CPU).toDoubleArray();
        byte[] q = new byte[v.length];
        double[] scale = new double[out];
        for (int o = 0; o < out; o++) {
            double max = 0;
            for (int i = 0; i < in; i++) {
                max = Math.max(max, Math.abs(v[o * in + i]));
            }
            float s = (float) (max / 127);
            scale[o] = s;
            for (int i = 0; i < in; i++) {
                q[o * in + i] = s == 0 ? 0 : (byte) Math.max(-127, Math.min(127, Math.rint(v[o * in + i] / s)));
            }
        }
        Tensor qt = Tensor.empty(DType.I8, out, in);
        MemorySegment.copy(q, 0, qt.hostSegment("quantize"), ValueLayout.JAVA_BYTE, qt.offset(), q.length);
        Tensor st = Tensor.of(DType.F32, scale, out);
        if (!w.device().equals(Device.CPU)) {
            Tensor dq = qt.to(w.device());
            Tensor ds = st.to(w.device());
            qt.close();
            st.close();
            return new Quantized(dq, ds);
        }
        return new Quantized(qt, st);
    }

    /**
     * Quantizes every linear layer of {@code module} (embeddings and norms stay floating); returns their names.
     *
     * @param module the module to convert in place
     * @return the names of the converted layers
     */
    public static List<String> quantizeLinears(Module module) {
        List<String> names = new ArrayList<>();
        module.namedModules().forEach((name, m) -> {
            if (m instanceof Linear l && !l.isInt8()) {
                l.quantizeInt8();
                names.add(name);
            }
        });
        return names;
    }

    /**
     * Makes the linear layers whose weight names ("NAME.weight") are in {@code int8Weights} int8 ones, so that a
     * checkpoint holding their int8 weights and scales loads into them; a name that is not a linear layer's weight is an
     * error.
     *
     * @param module the module to prepare in place
     * @param int8Weights the names of the int8 weights in the checkpoint
     * @throws IllegalArgumentException when a name is not a linear layer's weight
     */
    public static void prepareLinears(Module module, Set<String> int8Weights) {
        Map<String, Module> modules = module.namedModules();
        List<String> unknown = new ArrayList<>();
        for (String w : int8Weights) {
            String layer = w.endsWith(".weight") ? w.substring(0, w.length() - ".weight".length()) : null;
            if (layer != null && modules.get(layer) instanceof Linear l) {
                l.prepareInt8();
            } else {
                unknown.add(w);
            }
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException(
                    "int8 tensors that are not linear layers' weights: " + String.join(", ", unknown));
        }
    }

    /**
     * diag(scale)·q as f32 [out, in] (for checks; products never build it).
     *
     * @param q the int8 weights [out, in]
     * @param scale the scale of each row [out]
     * @return the f32 weights [out, in]
     */
    public static Tensor dequantize(Tensor q, Tensor scale) {
        return q.to(DType.F32).mul(scale.to(DType.F32).reshape(q.size(0), 1));
    }
}
