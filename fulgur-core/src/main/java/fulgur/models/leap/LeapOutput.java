package fulgur.models.leap;

import fulgur.tensor.Tensor;

/**
 * LEAP's forward pass: the encoded segments F^a, F^v [B, T, D] (what L_avss compares), the video-level logits of
 * each modality [B, C] (σ gives p^a, p^v) and the segment-level logits [B, T, C] (the last LEAP layer's scores of
 * each label over the segments, averaged over heads; σ gives P^a, P^v).
 *
 * @param audioFeatures F^a [B, T, D]
 * @param visualFeatures F^v [B, T, D]
 * @param audioVideoLogits the audio video-level logits [B, C]
 * @param visualVideoLogits the visual video-level logits [B, C]
 * @param audioSegmentLogits the audio segment-level logits [B, T, C]
 * @param visualSegmentLogits the visual segment-level logits [B, T, C]
 */
public record LeapOutput(
        Tensor audioFeatures,
        Tensor visualFeatures,
        Tensor audioVideoLogits,
        Tensor visualVideoLogits,
        Tensor audioSegmentLogits,
        Tensor visualSegmentLogits) {}
