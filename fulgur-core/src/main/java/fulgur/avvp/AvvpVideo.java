package fulgur.avvp;

/**
 * One video of an AVVP set: per-segment features of the three streams in row-major [T, D] order (audio: VGGish;
 * visual: ResNet-152 averaged over the frames of each segment; motion: R(2+1)D), the video-level labels, and
 * optionally segment-level pseudo labels per modality (training targets, e.g. VALOR's) and segment-level ground truth
 * per modality (evaluation). Absent ones are null.
 */
public record AvvpVideo(
        String name,
        int segments,
        float[] audio,
        float[] visual,
        float[] motion,
        boolean[] labels,
        EventGrid audioPseudo,
        EventGrid visualPseudo,
        EventGrid audioTruth,
        EventGrid visualTruth) {

    public AvvpVideo {
        if (segments <= 0
                || audio.length % segments != 0
                || visual.length % segments != 0
                || motion.length % segments != 0) {
            throw new IllegalArgumentException("video " + name + ": feature arrays of " + audio.length + ", "
                    + visual.length + ", " + motion.length + " values do not split into " + segments + " segments");
        }
        for (EventGrid g : new EventGrid[] {audioPseudo, visualPseudo, audioTruth, visualTruth}) {
            if (g != null && (g.segments() != segments || g.classes() != labels.length)) {
                throw new IllegalArgumentException("video " + name + ": a " + g.segments() + " × " + g.classes()
                        + " label grid for " + segments + " segments and " + labels.length + " classes");
            }
        }
    }

    /** The audio segment targets: the pseudo labels, or else the video labels on every segment. */
    public EventGrid audioTargets() {
        return audioPseudo != null ? audioPseudo : EventGrid.broadcast(labels, segments);
    }

    public EventGrid visualTargets() {
        return visualPseudo != null ? visualPseudo : EventGrid.broadcast(labels, segments);
    }

    public boolean hasTruth() {
        return audioTruth != null && visualTruth != null;
    }

    /** Whether some segment has two or more events at once in one modality (by the ground truth). */
    public boolean hasOverlappingEvents() {
        if (!hasTruth()) {
            return false;
        }
        for (int t = 0; t < segments; t++) {
            if (audioTruth.countAt(t) >= 2 || visualTruth.countAt(t) >= 2) {
                return true;
            }
        }
        return false;
    }
}
