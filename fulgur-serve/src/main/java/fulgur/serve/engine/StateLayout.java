package fulgur.serve.engine;

import fulgur.autograd.GradMode;
import fulgur.models.CausalLM;
import fulgur.models.DecodeCache;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What one sequence's decoding state looks like for a model: its fixed-size state tensors (shape without the batch
 * dimension, dtype, in the order the model binds them) and the bytes of keys and values each token adds in its softmax
 * layers. Found by running one token through a fresh cache, so it holds for every architecture and dtype.
 */
record StateLayout(List<Spec> specs, long kvBytesPerToken) {

    /** One state tensor of a sequence. */
    record Spec(int[] shape, DType dtype) {
        long bytes() {
            long n = dtype.byteSize();
            for (int d : shape) {
                n *= d;
            }
            return n;
        }

        @Override
        public String toString() {
            return dtype + Arrays.toString(shape);
        }
    }

    StateLayout {
        specs = List.copyOf(specs);
    }

    /** Bytes of one sequence's fixed-size state. */
    long slotBytes() {
        long n = 0;
        for (Spec s : specs) {
            n += s.bytes();
        }
        return n;
    }

    boolean hasSoftmaxLayers() {
        return kvBytesPerToken > 0;
    }

    static StateLayout probe(CausalLM model, Device device) {
        try (var g = GradMode.noGrad();
                Scope s = Scope.open("state-layout");
                DecodeCache cache = model.newCache()) {
            model.forward(Tensor.ofInts(new int[] {0}, 1, 1).to(device), cache);
            List<Spec> specs = new ArrayList<>();
            for (Tensor t : cache.stateTensors()) {
                if (t.size(0) != 1) {
                    throw new IllegalStateException(model.getClass().getSimpleName() + ": state " + t.describe()
                            + " is not one row per sequence");
                }
                specs.add(new Spec(Arrays.copyOfRange(t.shape(), 1, t.ndim()), t.dtype()));
            }
            return new StateLayout(specs, cache.kvBytesPerToken());
        }
    }
}
