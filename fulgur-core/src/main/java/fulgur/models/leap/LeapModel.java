package fulgur.models.leap;

import fulgur.autograd.GradMode;
import fulgur.avvp.AvvpBatch;
import fulgur.avvp.AvvpClasses;
import fulgur.avvp.AvvpDataset;
import fulgur.avvp.AvvpModel;
import fulgur.avvp.AvvpPrediction;
import fulgur.io.safetensors.TensorIo;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.Parameter;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * LEAP (Zhou et al., ECCV 2024): label-anticipated event disentanglement for audio-visual video parsing.
 * <ol>
 *   <li>Projections to the model width: audio fc_a (VGGish 128 → D); visual fc_fusion([fc_v(ResNet-152 2048, frames
 *       averaged per segment); fc_st(R(2+1)D 512)]) (2D → D).</li>
 *   <li>A temporal encoder ({@link HanEncoder}) → F^a, F^v [B, T, D].</li>
 *   <li>Label embeddings F^l [C, label_dim] → fc_l → the queries of one {@link LabelDecoder} per modality.</li>
 *   <li>Video level: p^m = σ(fc_lm(F^lm_N)) [B, C]; segment level: P^m = σ(mean over heads of the last layer's scores)
 *       [B, T, C].</li>
 * </ol>
 * Tensor names follow the released code where it has the part (fc_a, fc_v, fc_st, fc_fusion, fc_l, fc_la, fc_lv).
 */
public final class LeapModel extends Module implements AvvpModel {
    private final LeapConfig config;
    private final Linear fcA;
    private final Linear fcV;
    private final Linear fcSt;
    private final Linear fcFusion;
    private final HanEncoder encoder;
    private final Parameter labelEmbeddings;
    private final Linear fcL;
    private final LabelDecoder decoderA;
    private final LabelDecoder decoderV;
    private final Linear fcLa;
    private final Linear fcLv;
    private final Rng dropoutRng;

    /**
     * A freshly initialised model (torch's default init; learned label embeddings from N(0, 1)). With
     * label_embeddings "fixed" the embeddings are zeros until {@link #setLabelEmbeddings} gives them.
     *
     * @param c the configuration, validated here
     * @param seed the seed of the weights and dropout masks
     * @throws IllegalArgumentException when the config is invalid
     */
    public LeapModel(LeapConfig c, long seed) {
        this.config = c.validate();
        Rng rng = new Rng(seed);
        // the dropout masks come from their own generator, whose position checkpoints keep
        dropoutRng = new Rng(seed ^ 0x5DEECE66DL);
        int d = c.hiddenSize();
        fcA = child("fc_a", new Linear(c.audioDim(), d, true, rng));
        fcV = child("fc_v", new Linear(c.visualDim(), d, true, rng));
        fcSt = child("fc_st", new Linear(c.motionDim(), d, true, rng));
        fcFusion = child("fc_fusion", new Linear(2 * d, d, true, rng));
        encoder = child("encoder", new HanEncoder(c, rng, dropoutRng));
        int classes = c.classNames().size();
        labelEmbeddings = param(
                "label_embeddings",
                isFixed() ? Tensor.zeros(classes, c.labelDim()) : rng.normal(0, 1, classes, c.labelDim()),
                false);
        fcL = child("fc_l", new Linear(c.labelDim(), d, true, rng));
        decoderA = child("decoder_a", new LabelDecoder(c, rng, dropoutRng));
        decoderV = child("decoder_v", new LabelDecoder(c, rng, dropoutRng));
        fcLa = child("fc_la", new Linear(d, 1, true, rng));
        fcLv = child("fc_lv", new Linear(d, 1, true, rng));
    }

    /** {@return the configuration} */
    public LeapConfig config() {
        return config;
    }

    private boolean isFixed() {
        return LeapConfig.FIXED.equals(config.labelEmbeddings());
    }

    /**
     * Sets the label embeddings (e.g. GloVe vectors of the class names), one row per class.
     *
     * @param e one vector of label_dim values per class
     * @throws IllegalArgumentException when the sizes differ from the config's
     */
    public void setLabelEmbeddings(LabelEmbeddings e) {
        if (e.classes() != config.classNames().size() || e.dim() != config.labelDim()) {
            throw new IllegalArgumentException("label embeddings of " + e.classes() + " × " + e.dim()
                    + " for a model of " + config.classNames().size() + " classes and label_dim " + config.labelDim());
        }
        try (Scope s = Scope.open("label embeddings")) {
            labelEmbeddings.load(Tensor.of(e.values(), e.classes(), e.dim()), "label_embeddings");
        }
    }

    /**
     * audio [B, T, audio_dim], visual [B, T, visual_dim] (frame features averaged over each segment: the projection
     * is affine, so this equals averaging after fc_v as the released code does), motion [B, T, motion_dim].
     *
     * @param audio [B, T, audio_dim]
     * @param visual [B, T, visual_dim]
     * @param motion [B, T, motion_dim]
     * @return the features and logits
     * @throws IllegalArgumentException when the shapes disagree with each other or the config
     */
    public LeapOutput forward(Tensor audio, Tensor visual, Tensor motion) {
        checkInput("audio", audio, config.audioDim());
        checkInput("visual", visual, config.visualDim());
        checkInput("motion", motion, config.motionDim());
        if (visual.size(0) != audio.size(0)
                || motion.size(0) != audio.size(0)
                || visual.size(1) != audio.size(1)
                || motion.size(1) != audio.size(1)) {
            throw new IllegalArgumentException("LEAP: audio " + audio.describe() + ", visual " + visual.describe()
                    + " and motion " + motion.describe() + " differ in videos or segments");
        }
        Tensor a = fcA.forward(cast(audio));
        Tensor v = fcFusion.forward(Views.concat(-1, fcV.forward(cast(visual)), fcSt.forward(cast(motion))));
        Tensor[] enc = encoder.forward(a, v);
        int b = audio.size(0);
        Tensor e = labelEmbeddings.value();
        Tensor l = fcL.forward(isFixed() ? e.detach() : e); // given embeddings stay fixed: only fc_l learns
        Tensor queries = Views.expand(l, b, l.size(0), l.size(1));
        LabelDecoderLayer.Output la = decoderA.forward(queries, enc[0]);
        LabelDecoderLayer.Output lv = decoderV.forward(queries, enc[1]);
        return new LeapOutput(
                enc[0], enc[1], videoLogits(fcLa, la), videoLogits(fcLv, lv), segmentLogits(la), segmentLogits(lv));
    }

    private static Tensor videoLogits(Linear head, LabelDecoderLayer.Output o) {
        Tensor x = head.forward(o.labels()); // [B, C, 1]
        return Views.reshape(x, x.size(0), x.size(1));
    }

    private static Tensor segmentLogits(LabelDecoderLayer.Output o) {
        return Views.permute(o.scores().mean(1, false), 0, 2, 1).contiguous(); // [B, H, C, T] -> [B, T, C]
    }

    private void checkInput(String what, Tensor x, int dim) {
        if (x.ndim() != 3 || x.size(2) != dim || x.size(1) == 0) {
            throw new IllegalArgumentException(
                    "LEAP: expected " + what + " features [videos, segments, " + dim + "], got " + x.describe());
        }
    }

    private Tensor cast(Tensor x) {
        DType dt = fcA.weight().value().dtype();
        Device d = fcA.weight().value().device();
        Tensor y = x.dtype() == dt ? x : x.to(dt);
        return y.device().equals(d) ? y : y.to(d);
    }

    private DType dtype() {
        return fcA.weight().value().dtype();
    }

    @Override
    public Module module() {
        return this;
    }

    @Override
    public Map<String, Parameter> trainableParameters() {
        Map<String, Parameter> p = new LinkedHashMap<>(namedParameters());
        if (isFixed()) {
            p.remove("label_embeddings");
        }
        return p;
    }

    @Override
    public AvvpClasses classes() {
        return config.classes();
    }

    @Override
    public AvvpDataset.Dims dims() {
        return config.dims();
    }

    /**
     * The forward of a batch's features, moved to the model's device and dtype.
     *
     * @param batch the batch
     * @return the features and logits
     * @throws IllegalArgumentException when the batch's classes or feature sizes differ from the model's
     */
    public LeapOutput forward(AvvpBatch batch) {
        checkBatch(batch);
        Device d = device();
        return forward(batch.audio(dtype(), d), batch.visual(dtype(), d), batch.motion(dtype(), d));
    }

    @Override
    public Map<String, Tensor> loss(AvvpBatch batch) {
        return LeapLoss.terms(forward(batch), batch, config);
    }

    @Override
    public AvvpPrediction predict(AvvpBatch batch) {
        try (var g = GradMode.noGrad();
                Scope s = Scope.open("predict")) {
            LeapOutput o = forward(batch);
            return new AvvpPrediction(
                    batch.size(),
                    batch.segments(),
                    batch.classes(),
                    host(o.audioVideoLogits()),
                    host(o.visualVideoLogits()),
                    host(o.audioSegmentLogits()),
                    host(o.visualSegmentLogits()));
        }
    }

    private static float[] host(Tensor logits) {
        return logits.sigmoid().to(DType.F32).toFloatArray();
    }

    private void checkBatch(AvvpBatch batch) {
        if (batch.classes() != config.classNames().size() || !batch.dims().equals(config.dims())) {
            throw new IllegalArgumentException(
                    "LEAP model of " + config.classNames().size() + " classes and features " + config.dims()
                            + " cannot read videos of " + batch.classes() + " classes and features " + batch.dims());
        }
    }

    @Override
    public long randomCounter() {
        return dropoutRng.counter();
    }

    @Override
    public void advanceRandomCounter(long counter) {
        if (counter < dropoutRng.counter()) {
            throw new IllegalStateException(
                    "the dropout generator is already past draw " + counter + " (at " + dropoutRng.counter() + ")");
        }
        while (dropoutRng.counter() < counter) {
            dropoutRng.nextStream();
        }
    }

    @Override
    public String configJson() {
        return config.toJson();
    }

    @Override
    public String describe() {
        LeapConfig c = config;
        return "LEAP, width " + c.hiddenSize() + ", HAN encoder of " + c.encoderLayers() + " layer(s) × "
                + c.encoderHeads() + " head(s), decoders of "
                + c.decoderLayers() + " layers × " + c.decoderHeads() + " heads, "
                + c.classNames().size() + " classes, " + c.labelEmbeddings()
                + " label embeddings (" + c.labelDim() + ")";
    }

    /**
     * Loads a trained model: {@code dir} holds {@code config.json} and {@code model.safetensors}, directly or under
     * {@code checkpoint/} (a training run's output directory).
     *
     * @param dir the model or run directory
     * @return the model, on the CPU
     * @throws java.io.IOException when a file cannot be read
     * @throws IllegalArgumentException when the directory holds no model or its files are bad
     */
    public static LeapModel load(Path dir) throws IOException {
        Path d = Files.isRegularFile(dir.resolve("model.safetensors")) ? dir : dir.resolve("checkpoint");
        Path cfg = d.resolve("config.json");
        Path weights = d.resolve("model.safetensors");
        if (!Files.isRegularFile(cfg) || !Files.isRegularFile(weights)) {
            throw new IllegalArgumentException("no LEAP model at " + dir
                    + " (expected config.json and model.safetensors there or under checkpoint/)");
        }
        LeapConfig c;
        try {
            c = LeapConfig.parse(Files.readString(cfg));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(cfg + ": " + e.getMessage(), e);
        }
        LeapModel m = new LeapModel(c, 0);
        try (Scope s = Scope.open("load")) {
            m.loadStateDict(TensorIo.load(weights).tensors(), true);
        } catch (IllegalArgumentException e) {
            m.close();
            throw new IllegalArgumentException(weights + ": " + e.getMessage(), e);
        }
        return m;
    }
}
