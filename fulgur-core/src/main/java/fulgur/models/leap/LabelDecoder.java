package fulgur.models.leap;

import fulgur.nn.Module;
import fulgur.nn.ModuleList;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/** The LEAP decoder of one modality: {@link LabelDecoderLayer}s refining the label embeddings layer by layer. */
final class LabelDecoder extends Module {
    private final ModuleList<LabelDecoderLayer> layers = child("layers", new ModuleList<>());

    LabelDecoder(LeapConfig c, Rng rng, Rng dropoutRng) {
        for (int i = 0; i < c.decoderLayers(); i++) {
            layers.add(new LabelDecoderLayer(c, rng, dropoutRng));
        }
    }

    /** labels [B, C, D], segments [B, T, D] → the last layer's labels [B, C, D] and segment scores [B, H, C, T]. */
    LabelDecoderLayer.Output forward(Tensor labels, Tensor segments) {
        Tensor l = labels;
        Tensor scores = null;
        for (int i = 0; i < layers.size(); i++) {
            LabelDecoderLayer.Output o = layers.get(i).forward(l, segments, i == layers.size() - 1);
            l = o.labels();
            scores = o.scores();
        }
        return new LabelDecoderLayer.Output(l, scores);
    }
}
