package fulgur.models.lightnet;

import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.ModuleList;
import fulgur.nn.RMSNorm;
import fulgur.ops.Elementwise;
import fulgur.ops.Losses;
import fulgur.ops.Reductions;
import fulgur.ops.Views;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * A 2-D LightNet image classifier: non-overlapping patches → linear patch embedding → x + MD-TPE(x) once → LightNet
 * blocks whose token mixer is the global single scan over all patches (S = Σ softmax(K)ᵀV, o = qS: one pass,
 * no scan order) → RMSNorm → mean over patches → linear head.
 */
public final class LightNetImageClassifier extends Module {

    /**
     * Sizes of the classifier.
     *
     * @param imageSize the side of the square images, in pixels
     * @param channels the channels per pixel
     * @param patch the side of a patch, dividing imageSize
     * @param dim the model width
     * @param layers the number of LightNet blocks
     * @param heads the heads of the token mixer, dividing dim
     * @param mlpDim the width of the blocks' MLP
     * @param gateRank the rank of the output gate's projection
     * @param classes the number of classes, ≥ 2
     */
    public record Config(
            int imageSize,
            int channels,
            int patch,
            int dim,
            int layers,
            int heads,
            int mlpDim,
            int gateRank,
            int classes) {
        /**
         * Checks the sizes.
         *
         * @throws IllegalArgumentException listing every problem
         */
        public Config {
            java.util.List<String> p = new java.util.ArrayList<>();
            if (imageSize <= 0
                    || channels <= 0
                    || patch <= 0
                    || dim <= 0
                    || layers <= 0
                    || heads <= 0
                    || mlpDim <= 0
                    || gateRank <= 0
                    || classes <= 1) {
                p.add("sizes must be positive (and classes > 1)");
            }
            if (patch > 0 && imageSize % patch != 0) {
                p.add("image size " + imageSize + " is not a multiple of the patch " + patch);
            }
            if (heads > 0 && dim % heads != 0) {
                p.add("dim " + dim + " is not divisible by heads " + heads);
            }
            if (!p.isEmpty()) {
                throw new IllegalArgumentException("invalid LightNet image classifier config: " + String.join("; ", p));
            }
        }

        /** {@return the patches per side: imageSize / patch} */
        public int grid() {
            return imageSize / patch;
        }
    }

    static final double EPS = 1e-6;

    private final Config config;
    private final Linear patchEmbed;
    private final MdTpe mdTpe;
    private final ModuleList<LightNetBlock> layers;
    private final RMSNorm norm;
    private final Linear head;

    /**
     * A freshly initialised classifier.
     *
     * @param c the sizes
     * @param seed the seed of the initial weights
     */
    public LightNetImageClassifier(Config c, long seed) {
        this.config = c;
        LightNetInit init = new LightNetInit(new Rng(seed), 0); // 1/√fan_in
        patchEmbed = child("patch_embed", init.linearWithBias(c.patch() * c.patch() * c.channels(), c.dim()));
        mdTpe = child("md_tpe", new MdTpe(c.dim(), c.heads(), EPS, init));
        layers = child("layers", new ModuleList<>());
        for (int l = 0; l < c.layers(); l++) {
            layers.add(new LightNetBlock(
                    c.dim(),
                    c.heads(),
                    c.dim() / c.heads(),
                    c.gateRank(),
                    c.mlpDim(),
                    true,
                    EPS,
                    EPS,
                    1.0,
                    true,
                    init));
        }
        norm = child("norm", new RMSNorm(c.dim(), EPS, true));
        head = child("head", init.linearWithBias(c.dim(), c.classes()));
    }

    /** {@return the sizes} */
    public Config config() {
        return config;
    }

    /**
     * Images [B, C, H, W] → logits [B, classes].
     *
     * @param images [B, channels, imageSize, imageSize]
     * @return logits [B, classes]
     * @throws IllegalArgumentException when the images do not have that shape
     */
    public Tensor forward(Tensor images) {
        Config c = config;
        if (images.ndim() != 4
                || images.size(1) != c.channels()
                || images.size(2) != c.imageSize()
                || images.size(3) != c.imageSize()) {
            throw new IllegalArgumentException("LightNetImageClassifier: images must be [B, " + c.channels() + ", "
                    + c.imageSize() + ", " + c.imageSize() + "], got " + images.describe());
        }
        int b = images.size(0), g = c.grid(), p = c.patch();
        // [B, C, g, p, g, p] → [B, g, g, p, p, C]: one row of p·p·C values per patch
        Tensor patches = Views.permute(Views.reshape(images, b, c.channels(), g, p, g, p), 0, 2, 4, 3, 5, 1);
        Tensor x = patchEmbed.forward(
                Views.reshape(Views.contiguous(patches), b, g, g, p * p * c.channels())); // [B, g, g, D]
        x = Elementwise.add(x, mdTpe.forward(x));
        x = Views.reshape(x, b, g * g, c.dim());
        for (LightNetBlock block : layers) {
            x = block.forward(x, null);
        }
        Tensor pooled = Reductions.mean(norm.forward(x), new int[] {1}, false);
        return head.forward(pooled);
    }

    /**
     * Mean cross-entropy of the labels [B] (i32).
     *
     * @param images [B, channels, imageSize, imageSize]
     * @param labels class ids [B] (i32)
     * @return the mean loss, a scalar
     */
    public Tensor loss(Tensor images, Tensor labels) {
        return Losses.crossEntropy(forward(images), labels);
    }
}
