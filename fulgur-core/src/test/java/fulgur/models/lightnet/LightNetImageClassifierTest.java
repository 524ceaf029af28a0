package fulgur.models.lightnet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.autograd.GradMode;
import fulgur.data.Shapes;
import fulgur.ops.Reductions;
import fulgur.optim.AdamW;
import fulgur.optim.ParamGroup;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import org.junit.jupiter.api.Test;

class LightNetImageClassifierTest {

    static final LightNetImageClassifier.Config SMALL =
            new LightNetImageClassifier.Config(16, 1, 4, 32, 2, 2, 64, 16, 4);

    static Tensor images(Shapes.Images im) {
        return Tensor.of(im.pixels(), im.count(), 1, im.size(), im.size());
    }

    @Test
    void shapesAreDeterministicBalancedAndDistinct() {
        Shapes s = new Shapes(16, 0.1);
        Shapes.Images a = s.generate(1, 10, 50);
        Shapes.Images b = s.generate(1, 30, 10); // examples 30..39 of the same stream
        assertThat(java.util.Arrays.copyOfRange(a.labels(), 20, 30)).containsExactly(b.labels());
        assertThat(java.util.Arrays.copyOfRange(a.pixels(), 20 * 256, 30 * 256)).containsExactly(b.pixels());
        int[] count = new int[4];
        for (int l : s.generate(2, 0, 400).labels()) {
            count[l]++;
        }
        for (int n : count) {
            assertThat(n).isBetween(70, 130);
        }
        assertThatThrownBy(() -> new Shapes(4, 0.1)).hasMessageContaining("at least 8");
    }

    @Test
    void badConfigsAndInputsAreRejected() {
        assertThatThrownBy(() -> new LightNetImageClassifier.Config(15, 1, 4, 30, 1, 4, 8, 4, 3))
                .hasMessageContaining("not a multiple of the patch")
                .hasMessageContaining("not divisible by heads");
        try (Scope s = Scope.open();
                LightNetImageClassifier m = new LightNetImageClassifier(SMALL, 1)) {
            assertThatThrownBy(() -> m.forward(Tensor.zeros(2, 1, 8, 8)))
                    .hasMessageContaining("images must be [B, 1, 16, 16]");
        }
    }

    @Test
    void gradientsMatchFiniteDifferencesInF64() {
        var c = new LightNetImageClassifier.Config(8, 1, 4, 4, 1, 2, 6, 2, 3);
        try (Scope s = Scope.open();
                LightNetImageClassifier m = new LightNetImageClassifier(c, 4)) {
            m.namedParameters().forEach((n, p) -> p.replace(p.value().to(DType.F64)));
            Tensor x = images(new Shapes(8, 0.2).generate(3, 0, 2)).to(DType.F64);
            Tensor labels = Tensor.ofInts(new int[] {0, 2}, 2);
            var p = m.namedParameters();
            assertThat(p)
                    .containsKeys(
                            "md_tpe.tpes.0.q",
                            "md_tpe.tpes.1.log_decay",
                            "md_tpe.tpes.0.norm.weight",
                            "layers.0.attn.g_proj.1.weight");
            GradCheck.check(
                    in -> m.loss(x, labels),
                    1e-6,
                    1e-5,
                    p.get("md_tpe.tpes.0.q").value(),
                    p.get("md_tpe.tpes.1.log_decay").value(),
                    p.get("layers.0.attn.k_proj.weight").value(),
                    p.get("patch_embed.weight").value());
        }
    }

    @Test
    void learnsToTellShapesApart() {
        Shapes data = new Shapes(16, 0.15);
        Shapes.Images test = data.generate(999, 0, 400);
        try (LightNetImageClassifier m = new LightNetImageClassifier(SMALL, 7)) {
            AdamW opt = new AdamW(ParamGroup.all(m, 0.0), 3e-3);
            int batch = 32;
            for (int step = 0; step < 300; step++) {
                try (Scope sc = Scope.open()) {
                    Shapes.Images im = data.generate(1, (long) step * batch, batch);
                    Tensor loss = m.loss(images(im), Tensor.ofInts(im.labels(), batch));
                    opt.zeroGrad();
                    loss.backward();
                    opt.step();
                }
            }
            int correct = 0;
            try (Scope sc = Scope.open();
                    var g = GradMode.noGrad()) {
                int[] pred =
                        Reductions.argmax(m.forward(images(test)), 1, false).toIntArray();
                for (int i = 0; i < pred.length; i++) {
                    correct += pred[i] == test.labels()[i] ? 1 : 0;
                }
            }
            double accuracy = correct / (double) test.count();
            assertThat(accuracy)
                    .as("held-out accuracy on 4 shapes (chance 0.25)")
                    .isGreaterThanOrEqualTo(0.9);
        }
    }
}
