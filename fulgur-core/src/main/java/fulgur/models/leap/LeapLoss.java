package fulgur.models.leap;

import fulgur.avvp.AvvpBatch;
import fulgur.avvp.AvvpVideo;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.ops.LinearAlgebra;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * LEAP's training objective, each term a mean over its elements:
 * <pre>
 *   loss = w_video·(BCE(p^a, Y^a) + BCE(p^v, Y^v)) + w_global·BCE(p, y)
 *        + w_segment·(BCE(P^a, Y^a_seg) + BCE(P^v, Y^v_seg)) + w_avss·L_avss
 * </pre>
 * with y the video labels, Y_seg the segment pseudo labels per modality (the video labels on every segment where
 * there are none), Y^a, Y^v the classes present in them, p = 1 − (1 − p^a)(1 − p^v) the video prediction of either
 * modality, and L_avss = mean_ij (ReLU(cos(F^a_i, F^v_j)) − r_ij)² with r from {@link AvssTarget}. The released
 * code's global term reads thresholded probabilities and so carries no gradient; the noisy-OR here is its
 * differentiable form.
 */
public final class LeapLoss {
    /** Floor of p in log p of the global term (the released code clamps probabilities at 1e-7 too). */
    static final double MIN_PROBABILITY = 1e-7;
    /** ε² under the square root of the norms of {@link #cosine}: smooth where a feature vector is zero. */
    static final double NORM_EPS = 1e-12;

    private LeapLoss() {}

    /**
     * The total ("loss") and each term of a batch.
     *
     * @param o the model's output
     * @param batch the batch, with its targets
     * @param c the configuration (loss weights, AVSS target)
     * @return the terms by name, the total under "loss"
     */
    public static Map<String, Tensor> terms(LeapOutput o, AvvpBatch batch, LeapConfig c) {
        DType dt = o.audioVideoLogits().dtype();
        Device d = o.audioVideoLogits().device();
        Tensor video = bceWithLogits(o.audioVideoLogits(), batch.audioVideoTargets(dt, d))
                .add(bceWithLogits(o.visualVideoLogits(), batch.visualVideoTargets(dt, d)));
        Tensor global = noisyOrBce(o.audioVideoLogits(), o.visualVideoLogits(), batch.videoLabels(dt, d));
        Tensor segment = bceWithLogits(o.audioSegmentLogits(), batch.audioSegmentTargets(dt, d))
                .add(bceWithLogits(o.visualSegmentLogits(), batch.visualSegmentTargets(dt, d)));
        Tensor total = video.mul(c.videoLossWeight())
                .add(global.mul(c.globalLossWeight()))
                .add(segment.mul(c.segmentLossWeight()));
        Map<String, Tensor> out = new LinkedHashMap<>();
        out.put("loss", total);
        out.put("video", video);
        out.put("global", global);
        out.put("segment", segment);
        if (c.avssLossWeight() > 0) {
            Tensor avss = avss(o.audioFeatures(), o.visualFeatures(), avssTargets(batch, c, dt, d));
            out.put("loss", total.add(avss.mul(c.avssLossWeight())));
            out.put("avss", avss);
        }
        return out;
    }

    /** Targets r [B, T, T] of L_avss from the batch's segment targets. */
    static Tensor avssTargets(AvvpBatch batch, LeapConfig c, DType dtype, Device device) {
        int t = batch.segments();
        float[] all = new float[batch.size() * t * t];
        for (int b = 0; b < batch.size(); b++) {
            AvvpVideo v = batch.videos().get(b);
            System.arraycopy(AvssTarget.of(v.audioTargets(), v.visualTargets(), c), 0, all, b * t * t, t * t);
        }
        Tensor r = Tensor.of(all, batch.size(), t, t);
        r = dtype == DType.F32 ? r : r.to(dtype);
        return device.kind() == Device.Kind.CPU ? r : r.to(device);
    }

    /**
     * mean(BCE(σ(x), y)) = mean(softplus(x) − y·x), stable for any logit.
     *
     * @param logits x, any shape
     * @param targets y in [0, 1], x's shape
     * @return the mean loss, a scalar
     */
    public static Tensor bceWithLogits(Tensor logits, Tensor targets) {
        return Activations.softplus(logits).sub(targets.mul(logits)).mean();
    }

    /**
     * mean(BCE(p, y)) for p = 1 − (1 − σ(a))(1 − σ(b)): log(1 − p) = −softplus(a) − softplus(b) exactly, and
     * log p = log max(1 − exp(log(1 − p)), 1e-7).
     *
     * @param a the first logits, any shape
     * @param b the second logits, a's shape
     * @param targets y in [0, 1], a's shape
     * @return the mean loss, a scalar
     */
    public static Tensor noisyOrBce(Tensor a, Tensor b, Tensor targets) {
        Tensor logNot = Activations.softplus(a).add(Activations.softplus(b)).neg();
        Tensor p = Elementwise.maximum(
                logNot.exp().neg().add(1), Tensor.full(logNot.dtype(), logNot.device(), MIN_PROBABILITY));
        Tensor ll = targets.mul(p.log()).add(targets.neg().add(1).mul(logNot));
        return ll.mean().neg();
    }

    /**
     * Cosine similarities of every row of a [B, T, D] with every row of b [B, S, D]: [B, T, S].
     *
     * @param a [B, T, D]
     * @param b [B, S, D]
     * @return [B, T, S]
     */
    public static Tensor cosine(Tensor a, Tensor b) {
        return LinearAlgebra.matmul(unit(a), unit(b), false, true);
    }

    private static Tensor unit(Tensor x) {
        return x.mul(x.mul(x).sum(-1, true).add(NORM_EPS).rsqrt());
    }

    /**
     * L_avss: mean over [B, T, T] of (ReLU(cos(F^a_i, F^v_j)) − r_ij)².
     *
     * @param audio F^a [B, T, D]
     * @param visual F^v [B, T, D]
     * @param target r [B, T, T]
     * @return the loss, a scalar
     */
    public static Tensor avss(Tensor audio, Tensor visual, Tensor target) {
        Tensor diff = cosine(audio, visual).relu().sub(target);
        return diff.mul(diff).mean();
    }
}
