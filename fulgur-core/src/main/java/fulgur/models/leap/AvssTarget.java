package fulgur.models.leap;

import fulgur.avvp.EventGrid;

/**
 * The target r_ij of the audio-visual semantic similarity loss between audio segment i and visual segment j of a
 * video, from the event sets E^a_i, E^v_j of its segment labels:
 * <ul>
 *   <li>{@link #eiou} (the paper): |E^a_i ∩ E^v_j| / |E^a_i ∪ E^v_j|, 0 when both are empty;</li>
 *   <li>{@link #maxCount} (the released code): |E^a_i ∩ E^v_j| / max(max_t |E^a_t|, max_t |E^v_t|), 0 when the
 *       video has no event at all;</li>
 * </ul>
 * and the released code's squashing {@link #squash}: sigmoid(log r) + ε = r / (1 + r) + ε.
 */
final class AvssTarget {
    private AvssTarget() {}

    /** r [T·T] row-major (i over audio segments, j over visual ones). */
    static float[] eiou(EventGrid audio, EventGrid visual) {
        int t = audio.segments();
        float[] r = new float[t * t];
        for (int i = 0; i < t; i++) {
            for (int j = 0; j < t; j++) {
                int inter = intersection(audio, i, visual, j);
                int union = audio.countAt(i) + visual.countAt(j) - inter;
                r[i * t + j] = union == 0 ? 0 : (float) inter / union;
            }
        }
        return r;
    }

    static float[] maxCount(EventGrid audio, EventGrid visual) {
        int t = audio.segments();
        int max = 0;
        for (int s = 0; s < t; s++) {
            max = Math.max(max, Math.max(audio.countAt(s), visual.countAt(s)));
        }
        float[] r = new float[t * t];
        for (int i = 0; i < t; i++) {
            for (int j = 0; j < t; j++) {
                r[i * t + j] = max == 0 ? 0 : (float) intersection(audio, i, visual, j) / max;
            }
        }
        return r;
    }

    static float[] squash(float[] r, double eps) {
        float[] s = new float[r.length];
        for (int i = 0; i < r.length; i++) {
            s[i] = (float) (r[i] / (1.0 + r[i]) + eps);
        }
        return s;
    }

    /** The target of one video under the config's choice of normaliser and squashing. */
    static float[] of(EventGrid audio, EventGrid visual, LeapConfig c) {
        float[] r = LeapConfig.MAX_COUNT.equals(c.avssTarget()) ? maxCount(audio, visual) : eiou(audio, visual);
        return c.avssSquash() ? squash(r, c.avssEps()) : r;
    }

    private static int intersection(EventGrid a, int i, EventGrid v, int j) {
        int n = 0;
        for (int c = 0; c < a.classes(); c++) {
            n += a.get(i, c) && v.get(j, c) ? 1 : 0;
        }
        return n;
    }
}
