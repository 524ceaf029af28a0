package fulgur.models.leap;

import fulgur.nn.Module;
import fulgur.nn.ModuleList;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * HAN's temporal encoder: layers of {@link HanLayer}, each shared by the two modalities (as released) and applied to
 * both with the other modality's segments of the same depth: a ← L(a, v), v ← L(v, a) from the same a and v. The
 * released loop feeds every layer the encoder's inputs (harmless there: it runs one layer); here layers stack.
 */
final class HanEncoder extends Module {
    private final ModuleList<HanLayer> layers = child("layers", new ModuleList<>());

    HanEncoder(LeapConfig c, Rng rng, Rng dropoutRng) {
        for (int i = 0; i < c.encoderLayers(); i++) {
            layers.add(new HanLayer(c, rng, dropoutRng));
        }
    }

    /** Audio and visual segments [B, T, D] → {audio, visual} [B, T, D]. */
    Tensor[] forward(Tensor audio, Tensor visual) {
        Tensor a = audio;
        Tensor v = visual;
        for (HanLayer l : layers) {
            Tensor na = l.forward(a, v);
            v = l.forward(v, a);
            a = na;
        }
        return new Tensor[] {a, v};
    }
}
