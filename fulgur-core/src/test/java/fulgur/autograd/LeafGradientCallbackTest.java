package fulgur.autograd;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class LeafGradientCallbackTest {
    /** The callback sees each leaf once, after all of its uses have been accumulated, with its final gradient. */
    @Test
    void calledOncePerLeafWithTheFinishedGradient() {
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.of(new float[] {1, 2}, 2).requiresGrad(true);
            Tensor b = Tensor.of(new float[] {3, 4}, 2).requiresGrad(true);
            Tensor loss = a.mul(b).add(a.mul(a)).sum(); // a is used three times
            List<String> seen = new ArrayList<>();
            Autograd.backward(
                    loss,
                    null,
                    leaf -> seen.add((leaf == a ? "a" : "b")
                            + java.util.Arrays.toString(leaf.grad().toFloatArray())));
            assertThat(seen).containsExactlyInAnyOrder("a[5.0, 8.0]", "b[1.0, 2.0]");
        }
    }
}
