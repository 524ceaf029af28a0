package fulgur.avvp;

/**
 * What an AVVP model predicts for a batch, as probabilities on the host: per video and class the audio and visual
 * video-level probabilities [B, C], and per segment the audio and visual segment-level probabilities [B, T, C].
 */
public record AvvpPrediction(
        int batch,
        int segments,
        int classes,
        float[] audioVideo,
        float[] visualVideo,
        float[] audioSegments,
        float[] visualSegments) {

    public AvvpPrediction {
        if (audioVideo.length != batch * classes
                || visualVideo.length != batch * classes
                || audioSegments.length != batch * segments * classes
                || visualSegments.length != batch * segments * classes) {
            throw new IllegalArgumentException("AVVP prediction arrays do not match " + batch + " videos, " + segments
                    + " segments, " + classes + " classes");
        }
    }

    /**
     * The events of video b as the benchmark decodes them: the video's labels are those either modality predicts
     * (p ≥ 0.5), and a segment holds an event of a modality where its segment probability is ≥ 0.5 and the event is
     * among the video's labels. Returns {audio, visual}.
     */
    public EventGrid[] decode(int b) {
        boolean[] video = new boolean[classes];
        for (int c = 0; c < classes; c++) {
            video[c] = audioVideo[b * classes + c] >= 0.5f || visualVideo[b * classes + c] >= 0.5f;
        }
        return new EventGrid[] {
            grid(audioSegments, b).mask(video), grid(visualSegments, b).mask(video)
        };
    }

    private EventGrid grid(float[] p, int b) {
        float[] v = new float[segments * classes];
        System.arraycopy(p, b * segments * classes, v, 0, v.length);
        return EventGrid.threshold(v, segments, classes);
    }
}
