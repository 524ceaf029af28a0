package fulgur.models.leap;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import fulgur.avvp.AvvpClasses;
import fulgur.avvp.AvvpDataset;
import fulgur.models.ConfigJson;
import java.util.ArrayList;
import java.util.List;

/**
 * LEAP's config.json (model_type "leap"). Absent fields take the released code's values: 512 wide, a LEAP decoder of
 * 2 pre-LN layers with 8 heads and a 512 feed-forward per modality, dropout 0.2 (0.1 on attention probabilities),
 * 300-d label embeddings (GloVe in the paper), LLP's 25 classes and feature sizes. The encoder is HAN's (Tian et al.
 * 2020: one post-LN layer of self- plus cross-modal attention shared by both modalities, 1 head). The loss fields
 * weight the terms of {@link LeapLoss}; {@code avss_target} picks the paper's EIoU ("eiou") or the released code's
 * max-count normaliser ("max_count"), {@code avss_squash} the code's r/(1+r)+ε squashing of the target.
 * {@code segment_scores} picks where the segment-level scores come from: the last layer's attention ("attention")
 * or, as the released code does, a second projection of the residual-updated label queries ("updated_queries").
 *
 * @param modelType {@code model_type}, "leap"
 * @param classNames {@code class_names}: the event classes (default LLP's 25)
 * @param audioDim {@code audio_dim}: the audio feature size
 * @param visualDim {@code visual_dim}: the visual (frame) feature size
 * @param motionDim {@code motion_dim}: the motion (3D CNN) feature size
 * @param hiddenSize {@code hidden_size}: the model width (default 512)
 * @param encoderType {@code encoder_type}: "han"
 * @param encoderLayers {@code encoder_layers} (default 1)
 * @param encoderHeads {@code encoder_heads} (default 1)
 * @param encoderFfnDim {@code encoder_ffn_dim} (default hidden_size)
 * @param encoderDropout {@code encoder_dropout} (default 0.1)
 * @param decoderLayers {@code decoder_layers}: LEAP layers (default 2)
 * @param decoderHeads {@code decoder_heads} (default 8)
 * @param decoderFfnDim {@code decoder_ffn_dim} (default hidden_size)
 * @param decoderDropout {@code decoder_dropout} (default 0.2)
 * @param attentionDropout {@code attention_dropout}: on attention probabilities (default 0.1)
 * @param labelDim {@code label_dim}: the label embeddings' size (default 300)
 * @param labelEmbeddings {@code label_embeddings}: {@link #LEARNED} or {@link #FIXED}
 * @param segmentScores {@code segment_scores}: {@link #ATTENTION} or {@link #UPDATED_QUERIES}
 * @param layerNormEps {@code layer_norm_eps} (default 1e-5)
 * @param videoLossWeight {@code video_loss_weight}: w_video (default 1)
 * @param globalLossWeight {@code global_loss_weight}: w_global (default 1)
 * @param segmentLossWeight {@code segment_loss_weight}: w_segment (default 1)
 * @param avssLossWeight {@code avss_loss_weight}: w_avss, 0 to drop the term (default 1)
 * @param avssTarget {@code avss_target}: {@link #EIOU} or {@link #MAX_COUNT}
 * @param avssSquash {@code avss_squash}: whether the target is squashed as r/(1+r)+ε (default false)
 * @param avssEps {@code avss_eps}: that ε (default 0.01)
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record LeapConfig(
        @JsonProperty("model_type") String modelType,
        @JsonProperty("class_names") List<String> classNames,
        @JsonProperty("audio_dim") Integer audioDim,
        @JsonProperty("visual_dim") Integer visualDim,
        @JsonProperty("motion_dim") Integer motionDim,
        @JsonProperty("hidden_size") Integer hiddenSize,
        @JsonProperty("encoder_type") String encoderType,
        @JsonProperty("encoder_layers") Integer encoderLayers,
        @JsonProperty("encoder_heads") Integer encoderHeads,
        @JsonProperty("encoder_ffn_dim") Integer encoderFfnDim,
        @JsonProperty("encoder_dropout") Double encoderDropout,
        @JsonProperty("decoder_layers") Integer decoderLayers,
        @JsonProperty("decoder_heads") Integer decoderHeads,
        @JsonProperty("decoder_ffn_dim") Integer decoderFfnDim,
        @JsonProperty("decoder_dropout") Double decoderDropout,
        @JsonProperty("attention_dropout") Double attentionDropout,
        @JsonProperty("label_dim") Integer labelDim,
        @JsonProperty("label_embeddings") String labelEmbeddings,
        @JsonProperty("segment_scores") String segmentScores,
        @JsonProperty("layer_norm_eps") Double layerNormEps,
        @JsonProperty("video_loss_weight") Double videoLossWeight,
        @JsonProperty("global_loss_weight") Double globalLossWeight,
        @JsonProperty("segment_loss_weight") Double segmentLossWeight,
        @JsonProperty("avss_loss_weight") Double avssLossWeight,
        @JsonProperty("avss_target") String avssTarget,
        @JsonProperty("avss_squash") Boolean avssSquash,
        @JsonProperty("avss_eps") Double avssEps) {

    /** The {@code model_type} of a LEAP config.json. */
    public static final String MODEL_TYPE = "leap";
    /** Label embeddings trained with the model. */
    public static final String LEARNED = "learned";
    /** Label embeddings given (e.g. GloVe) and kept fixed; only their projection trains. */
    public static final String FIXED = "fixed";
    /** The AVSS target of the paper: |E^a_i ∩ E^v_j| / |E^a_i ∪ E^v_j| of two segments' event sets. */
    public static final String EIOU = "eiou";
    /** The AVSS target of the released code: |E^a_i ∩ E^v_j| over the video's largest event count of a segment. */
    public static final String MAX_COUNT = "max_count";
    /** Segment scores from the last LEAP layer's attention, averaged over heads. */
    public static final String ATTENTION = "attention";
    /** Segment scores from a second projection of the residual-updated label queries (the released code). */
    public static final String UPDATED_QUERIES = "updated_queries";

    /** Gives absent fields the reference implementation's defaults. */
    public LeapConfig {
        modelType = modelType == null ? MODEL_TYPE : modelType;
        classNames = classNames == null ? AvvpClasses.LLP : List.copyOf(classNames);
        audioDim = audioDim == null ? AvvpDataset.Dims.LLP.audio() : audioDim;
        visualDim = visualDim == null ? AvvpDataset.Dims.LLP.visual() : visualDim;
        motionDim = motionDim == null ? AvvpDataset.Dims.LLP.motion() : motionDim;
        hiddenSize = hiddenSize == null ? 512 : hiddenSize;
        encoderType = encoderType == null ? "han" : encoderType;
        encoderLayers = encoderLayers == null ? 1 : encoderLayers;
        encoderHeads = encoderHeads == null ? 1 : encoderHeads;
        encoderFfnDim = encoderFfnDim == null ? hiddenSize : encoderFfnDim;
        encoderDropout = encoderDropout == null ? 0.1 : encoderDropout;
        decoderLayers = decoderLayers == null ? 2 : decoderLayers;
        decoderHeads = decoderHeads == null ? 8 : decoderHeads;
        decoderFfnDim = decoderFfnDim == null ? hiddenSize : decoderFfnDim;
        decoderDropout = decoderDropout == null ? 0.2 : decoderDropout;
        attentionDropout = attentionDropout == null ? 0.1 : attentionDropout;
        labelDim = labelDim == null ? 300 : labelDim;
        labelEmbeddings = labelEmbeddings == null ? LEARNED : labelEmbeddings;
        segmentScores = segmentScores == null ? ATTENTION : segmentScores;
        layerNormEps = layerNormEps == null ? 1e-5 : layerNormEps;
        videoLossWeight = videoLossWeight == null ? 1.0 : videoLossWeight;
        globalLossWeight = globalLossWeight == null ? 1.0 : globalLossWeight;
        segmentLossWeight = segmentLossWeight == null ? 1.0 : segmentLossWeight;
        avssLossWeight = avssLossWeight == null ? 1.0 : avssLossWeight;
        avssTarget = avssTarget == null ? EIOU : avssTarget;
        avssSquash = avssSquash != null && avssSquash;
        avssEps = avssEps == null ? 0.01 : avssEps;
    }

    /**
     * The defaults (the released code's sizes, LLP's classes and features).
     *
     * @return the config
     */
    public static LeapConfig defaults() {
        return new LeapConfig(
                null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
                null, null, null, null, null, null, null, null, null, null);
    }

    /**
     * A model of {@code hidden} width with {@code decoderLayers} LEAP layers of {@code heads} heads (feed-forwards as
     * wide as the model).
     *
     * @param hidden the width
     * @param decoderLayers the number of LEAP layers
     * @param heads the heads of each
     * @return the config
     */
    public static LeapConfig small(int hidden, int decoderLayers, int heads) {
        return defaults().with(hidden, decoderLayers, heads);
    }

    LeapConfig with(int hidden, int layers, int heads) {
        return new LeapConfig(
                modelType,
                classNames,
                audioDim,
                visualDim,
                motionDim,
                hidden,
                encoderType,
                encoderLayers,
                encoderHeads,
                hidden,
                encoderDropout,
                layers,
                heads,
                hidden,
                decoderDropout,
                attentionDropout,
                labelDim,
                labelEmbeddings,
                segmentScores,
                layerNormEps,
                videoLossWeight,
                globalLossWeight,
                segmentLossWeight,
                avssLossWeight,
                avssTarget,
                avssSquash,
                avssEps);
    }

    /**
     * This config for another class list and feature sizes (e.g. a dataset's).
     *
     * @param classes the class names
     * @param dims the feature sizes
     * @return the new config
     */
    public LeapConfig withTask(List<String> classes, AvvpDataset.Dims dims) {
        return new LeapConfig(
                modelType,
                classes,
                dims.audio(),
                dims.visual(),
                dims.motion(),
                hiddenSize,
                encoderType,
                encoderLayers,
                encoderHeads,
                encoderFfnDim,
                encoderDropout,
                decoderLayers,
                decoderHeads,
                decoderFfnDim,
                decoderDropout,
                attentionDropout,
                labelDim,
                labelEmbeddings,
                segmentScores,
                layerNormEps,
                videoLossWeight,
                globalLossWeight,
                segmentLossWeight,
                avssLossWeight,
                avssTarget,
                avssSquash,
                avssEps);
    }

    /**
     * This config with label embeddings of {@code dim} values given from a file ({@link #FIXED}) or learned.
     *
     * @param kind {@link #LEARNED} or {@link #FIXED}
     * @param dim the values per class
     * @return the new config
     */
    public LeapConfig withLabelEmbeddings(String kind, int dim) {
        return new LeapConfig(
                modelType,
                classNames,
                audioDim,
                visualDim,
                motionDim,
                hiddenSize,
                encoderType,
                encoderLayers,
                encoderHeads,
                encoderFfnDim,
                encoderDropout,
                decoderLayers,
                decoderHeads,
                decoderFfnDim,
                decoderDropout,
                attentionDropout,
                dim,
                kind,
                segmentScores,
                layerNormEps,
                videoLossWeight,
                globalLossWeight,
                segmentLossWeight,
                avssLossWeight,
                avssTarget,
                avssSquash,
                avssEps);
    }

    /**
     * The event classes, in {@code class_names} order.
     *
     * @return the classes
     */
    public AvvpClasses classes() {
        return new AvvpClasses(classNames);
    }

    /**
     * The feature sizes of the audio, visual and motion inputs.
     *
     * @return the sizes
     */
    public AvvpDataset.Dims dims() {
        return new AvvpDataset.Dims(audioDim, visualDim, motionDim);
    }

    /**
     * Checks every field and lists all problems at once.
     *
     * @return this config
     * @throws IllegalArgumentException listing every problem
     */
    public LeapConfig validate() {
        List<String> p = new ArrayList<>();
        if (!MODEL_TYPE.equals(modelType)) {
            p.add("model_type is '" + modelType + "', expected 'leap'");
        }
        try {
            classes();
        } catch (IllegalArgumentException e) {
            p.add("class_names: " + e.getMessage());
        }
        positive(p, "audio_dim", audioDim);
        positive(p, "visual_dim", visualDim);
        positive(p, "motion_dim", motionDim);
        positive(p, "hidden_size", hiddenSize);
        positive(p, "encoder_layers", encoderLayers);
        positive(p, "encoder_heads", encoderHeads);
        positive(p, "encoder_ffn_dim", encoderFfnDim);
        positive(p, "decoder_layers", decoderLayers);
        positive(p, "decoder_heads", decoderHeads);
        positive(p, "decoder_ffn_dim", decoderFfnDim);
        positive(p, "label_dim", labelDim);
        if (hiddenSize > 0 && encoderHeads > 0 && hiddenSize % encoderHeads != 0) {
            p.add("hidden_size " + hiddenSize + " is not divisible by encoder_heads " + encoderHeads);
        }
        if (hiddenSize > 0 && decoderHeads > 0 && hiddenSize % decoderHeads != 0) {
            p.add("hidden_size " + hiddenSize + " is not divisible by decoder_heads " + decoderHeads);
        }
        if (!"han".equals(encoderType)) {
            p.add("encoder_type '" + encoderType + "' is not supported (expected han)");
        }
        for (var d : List.of(
                new Object[] {"encoder_dropout", encoderDropout},
                new Object[] {"decoder_dropout", decoderDropout},
                new Object[] {"attention_dropout", attentionDropout})) {
            double v = (Double) d[1];
            if (!(v >= 0 && v < 1)) {
                p.add(d[0] + " must be in [0, 1), got " + v);
            }
        }
        if (!LEARNED.equals(labelEmbeddings) && !FIXED.equals(labelEmbeddings)) {
            p.add("label_embeddings '" + labelEmbeddings + "' is not supported (expected learned or fixed)");
        }
        if (!ATTENTION.equals(segmentScores) && !UPDATED_QUERIES.equals(segmentScores)) {
            p.add("segment_scores '" + segmentScores + "' is not supported (expected attention or updated_queries)");
        }
        if (!(layerNormEps > 0)) {
            p.add("layer_norm_eps must be > 0, got " + layerNormEps);
        }
        for (var w : List.of(
                new Object[] {"video_loss_weight", videoLossWeight},
                new Object[] {"global_loss_weight", globalLossWeight},
                new Object[] {"segment_loss_weight", segmentLossWeight},
                new Object[] {"avss_loss_weight", avssLossWeight},
                new Object[] {"avss_eps", avssEps})) {
            double v = (Double) w[1];
            if (!(v >= 0) || Double.isInfinite(v)) {
                p.add(w[0] + " must be a finite number >= 0, got " + v);
            }
        }
        if (!EIOU.equals(avssTarget) && !MAX_COUNT.equals(avssTarget)) {
            p.add("avss_target '" + avssTarget + "' is not supported (expected eiou or max_count)");
        }
        if (!p.isEmpty()) {
            throw new IllegalArgumentException("invalid LEAP config: " + String.join("; ", p));
        }
        return this;
    }

    private static void positive(List<String> p, String name, int v) {
        if (v <= 0) {
            p.add(name + " must be > 0, got " + v);
        }
    }

    /**
     * Parses config.json text and {@link #validate() validates} it; the error names every problem at once.
     *
     * @param json the config.json text
     * @return the config
     * @throws IllegalArgumentException for malformed JSON or an invalid config
     */
    public static LeapConfig parse(String json) {
        return ConfigJson.parse(json, LeapConfig.class, "LEAP").validate();
    }

    /**
     * This config as config.json text, in the reference implementation's field names.
     *
     * @return the JSON text
     */
    public String toJson() {
        return ConfigJson.write(this);
    }
}
