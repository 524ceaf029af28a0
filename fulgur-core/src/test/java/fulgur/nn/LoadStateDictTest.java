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
        assertThatThrownBy(() -> a.loadStateDict(state, true))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("non-finite: 'weight' has NaN at element 2 of [2, 3]")
                .hasMessageContaining("wrong dtype: bias is I32, expected a floating-point tensor");
        a.stateDict()
                .forEach((k, v) -> assertThat(v.toDoubleArray())
                        .as(k)
                        .containsExactly(before.get(k).toDoubleArray()));
        state.put("weight", Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3).to(DType.BF16));
        state.put("bias", Tensor.of(new double[] {7, 8}, 2));
        a.loadStateDict(state, true); // other floating dtypes convert
        assertThat(a.stateDict().get("bias").toDoubleArray()).containsExactly(7, 8);
    }

    /**
     * Int8 parameters are legitimately integer: a layer made int8 loads its I8 weight and F32 scales, whose scales are
     * checked like any floating tensor; an I8 weight for a layer that stayed floating is refused.
     */
    @Test
    void int8WeightsLoadIntoInt8LayersWithFiniteScalesOnly() {
        Linear source = new Linear(3, 2, false, new fulgur.tensor.Rng(1));
        source.quantizeInt8();
        Map<String, Tensor> state = new LinkedHashMap<>();
        source.stateDict().forEach((k, v) -> state.put(k, v.copy()));
        assertThat(state.get("weight").dtype()).isEqualTo(DType.I8);
        assertThat(state.get("weight_scale").dtype()).isEqualTo(DType.F32);

        Linear floating = new Linear(3, 2, false, new fulgur.tensor.Rng(2));
        Map<String, Tensor> weightOnly = Map.of("weight", state.get("weight"));
        assertThatThrownBy(() -> floating.loadStateDict(weightOnly, true))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("wrong dtype: weight is I8, expected a floating-point tensor");

        Linear int8 = new Linear(3, 2, false, new fulgur.tensor.Rng(2));
        int8.prepareInt8();
        Map<String, Tensor> badScale = new LinkedHashMap<>(state);
        badScale.put("weight_scale", Tensor.of(new float[] {0.01f, Float.POSITIVE_INFINITY}, 2));
        assertThatThrownBy(() -> int8.loadStateDict(badScale, true))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("non-finite: 'weight_scale' has Infinity at element 1 of [2]");
        int8.loadStateDict(state, true);
        assertThat(int8.stateDict().get("weight").toDoubleArray())
                .containsExactly(state.get("weight").toDoubleArray());
        assertThat(int8.stateDict().get("weight_scale").toDoubleArray())
                .containsExactly(state.get("weight_scale").toDoubleArray());
    }
}
