package fulgur.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import fulgur.testing.ScopedTest;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Loading weights refuses what would silently corrupt a model: non-finite values and integer tensors. */
class LoadStateDictTest extends ScopedTest {

    @Test
    void nonFiniteAndIntegerTensorsAreRefusedTogetherAndNothingIsLoaded() {
        Linear a = new Linear(3, 2, true, new fulgur.tensor.Rng(1));
        Map<String, Tensor> before = new LinkedHashMap<>();
        a.stateDict().forEach((k, v) -> before.put(k, v.copy()));
        Map<String, Tensor> state = new LinkedHashMap<>();
        state.put("weight", Tensor.of(new float[] {1, 2, Float.NaN, 4, 5, 6}, 2, 3));
        state.put("bias", Tensor.ofInts(new int[] {1, 2}, 2));
        assertThatThrownBy(() -> a.loadStateDict(state, true)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("non-finite: 'weight' has NaN at element 2 of [2, 3]")
                .hasMessageContaining("wrong dtype: bias is I32, expected a floating-point tensor");
        a.stateDict().forEach((k, v) -> assertThat(v.toDoubleArray()).as(k).containsExactly(before.get(k).toDoubleArray()));
        state.put("weight", Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3).to(DType.BF16));
        state.put("bias", Tensor.of(new double[] {7, 8}, 2));
        a.loadStateDict(state, true); // other floating dtypes convert
        assertThat(a.stateDict().get("bias").toDoubleArray()).containsExactly(7, 8);
    }
}
