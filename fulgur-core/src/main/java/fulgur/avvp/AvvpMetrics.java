package fulgur.avvp;

import java.util.List;

/**
 * The LLP benchmark's F-scores, computed exactly as its evaluation code does (Tian et al., ECCV 2020, kept by every
 * later AVVP paper). Per video and per class c, counts TP, FP and FN of the audio (A), visual (V) and audio-visual
 * (AV = A ∧ V, for predictions and ground truth alike) tracks; a class counts in a video's mean only if it is
 * predicted or present (TP+FP > 0 or TP+FN > 0), its F is 2TP / (2TP + FP + FN), and a video with no such class
 * scores 1. "Event@AV" pools the A and V counts of a class before its F. The set's score is the mean over videos;
 * Type@AV is the mean of the A, V and AV means.
 *
 * <ul>
 *   <li>Segment level: the counts are segments.</li>
 *   <li>Event level: events are runs of consecutive positive segments of one class; a predicted event is a TP if its
 *       IoU with some ground-truth event is at least 0.5, else an FP; a ground-truth event no predicted event
 *       matches so is an FN.</li>
 * </ul>
 */
public final class AvvpMetrics {

    /** F-scores of one level, as fractions in [0, 1]. */
    public record Level(double audio, double visual, double audioVisual, double eventAv) {
        /** The mean of the audio, visual and audio-visual scores. */
        public double typeAv() {
            return (audio + visual + audioVisual) / 3;
        }
    }

    /** Both levels over a set of videos. */
    public record Scores(Level segment, Level event, int videos) {}

    private final Sums segment = new Sums();
    private final Sums event = new Sums();

    /** Adds one video: decoded predictions and ground truth per modality. */
    public void add(EventGrid predAudio, EventGrid predVisual, EventGrid truthAudio, EventGrid truthVisual) {
        EventGrid predAv = predAudio.and(predVisual);
        EventGrid truthAv = truthAudio.and(truthVisual);
        segment.add(
                segmentLevel(predAudio, truthAudio),
                segmentLevel(predVisual, truthVisual),
                segmentLevel(predAv, truthAv));
        event.add(eventLevel(predAudio, truthAudio), eventLevel(predVisual, truthVisual), eventLevel(predAv, truthAv));
    }

    public Scores scores() {
        return new Scores(segment.level(), event.level(), segment.videos);
    }

    /** Per-class TP, FP, FN of segments: [c][0..2]. */
    static int[][] segmentLevel(EventGrid pred, EventGrid truth) {
        int[][] counts = new int[pred.classes()][3];
        for (int c = 0; c < pred.classes(); c++) {
            for (int t = 0; t < pred.segments(); t++) {
                boolean p = pred.get(t, c);
                boolean g = truth.get(t, c);
                counts[c][0] += p && g ? 1 : 0;
                counts[c][1] += p && !g ? 1 : 0;
                counts[c][2] += !p && g ? 1 : 0;
            }
        }
        return counts;
    }

    /** Per-class TP, FP, FN of events matched at IoU ≥ 0.5: [c][0..2]. */
    static int[][] eventLevel(EventGrid pred, EventGrid truth) {
        int[][] counts = new int[pred.classes()][3];
        for (int c = 0; c < pred.classes(); c++) {
            List<int[]> p = pred.events(c);
            List<int[]> g = truth.events(c);
            for (int[] e : p) {
                counts[c][matchesAny(e, g) ? 0 : 1]++;
            }
            for (int[] e : g) {
                counts[c][2] += matchesAny(e, p) ? 0 : 1;
            }
        }
        return counts;
    }

    private static boolean matchesAny(int[] e, List<int[]> others) {
        for (int[] o : others) {
            int inter = Math.max(0, Math.min(e[1], o[1]) - Math.max(e[0], o[0]));
            int union = (e[1] - e[0]) + (o[1] - o[0]) - inter;
            if (2 * inter >= union) {
                return true;
            }
        }
        return false;
    }

    /** The mean F over the classes that are predicted or present; 1 when there are none. */
    static double meanF(int[][] a, int[][] b) {
        double sum = 0;
        int n = 0;
        for (int c = 0; c < a.length; c++) {
            int tp = a[c][0] + (b == null ? 0 : b[c][0]);
            int fp = a[c][1] + (b == null ? 0 : b[c][1]);
            int fn = a[c][2] + (b == null ? 0 : b[c][2]);
            if (tp + fp != 0 || tp + fn != 0) {
                sum += 2.0 * tp / (2.0 * tp + fp + fn);
                n++;
            }
        }
        return n == 0 ? 1.0 : sum / n;
    }

    /** Sums of the per-video scores of one level. */
    private static final class Sums {
        double audio;
        double visual;
        double audioVisual;
        double pooled;
        int videos;

        void add(int[][] a, int[][] v, int[][] av) {
            audio += meanF(a, null);
            visual += meanF(v, null);
            audioVisual += meanF(av, null);
            pooled += meanF(a, v);
            videos++;
        }

        Level level() {
            int n = Math.max(1, videos);
            return new Level(audio / n, visual / n, audioVisual / n, pooled / n);
        }
    }
}
