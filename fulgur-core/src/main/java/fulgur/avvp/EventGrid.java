package fulgur.avvp;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Which events are on in which segment for one modality of one video: a segments × classes binary matrix, row-major
 * ({@code t * classes + c}). Used for ground truth, pseudo labels and decoded predictions alike.
 */
public final class EventGrid {
    private final int segments;
    private final int classes;
    private final boolean[] on;

    public EventGrid(int segments, int classes) {
        this(segments, classes, new boolean[checkedSize(segments, classes)]);
    }

    private EventGrid(int segments, int classes, boolean[] on) {
        this.segments = segments;
        this.classes = classes;
        this.on = on;
    }

    private static int checkedSize(int segments, int classes) {
        if (segments <= 0 || classes <= 0) {
            throw new IllegalArgumentException(
                    "event grid: segments and classes must be > 0, got " + segments + " and " + classes);
        }
        return segments * classes;
    }

    /** A grid from values in row-major [T, C] order: on where the value is ≥ 0.5. */
    public static EventGrid threshold(float[] values, int segments, int classes) {
        if (values.length != checkedSize(segments, classes)) {
            throw new IllegalArgumentException(
                    "event grid: " + values.length + " values for " + segments + " × " + classes);
        }
        boolean[] on = new boolean[values.length];
        for (int i = 0; i < on.length; i++) {
            on[i] = values[i] >= 0.5f;
        }
        return new EventGrid(segments, classes, on);
    }

    /** Every segment carries the video's labels (what weak supervision alone says). */
    public static EventGrid broadcast(boolean[] videoLabels, int segments) {
        EventGrid g = new EventGrid(segments, videoLabels.length);
        for (int t = 0; t < segments; t++) {
            System.arraycopy(videoLabels, 0, g.on, t * g.classes, g.classes);
        }
        return g;
    }

    public int segments() {
        return segments;
    }

    public int classes() {
        return classes;
    }

    public boolean get(int t, int c) {
        return on[t * classes + c];
    }

    public void set(int t, int c, boolean value) {
        on[t * classes + c] = value;
    }

    /** Turns class c on over segments [start, end). */
    public EventGrid fill(int c, int start, int end) {
        for (int t = start; t < end; t++) {
            set(t, c, true);
        }
        return this;
    }

    /** Whether class c is on in some segment. */
    public boolean present(int c) {
        for (int t = 0; t < segments; t++) {
            if (get(t, c)) {
                return true;
            }
        }
        return false;
    }

    /** The classes present somewhere: the video-level labels this grid implies. */
    public boolean[] presence() {
        boolean[] p = new boolean[classes];
        for (int c = 0; c < classes; c++) {
            p[c] = present(c);
        }
        return p;
    }

    /** How many events are on in segment t. */
    public int countAt(int t) {
        int n = 0;
        for (int c = 0; c < classes; c++) {
            n += get(t, c) ? 1 : 0;
        }
        return n;
    }

    /** Element-wise AND. */
    public EventGrid and(EventGrid o) {
        checkSameSize(o);
        boolean[] r = new boolean[on.length];
        for (int i = 0; i < r.length; i++) {
            r[i] = on[i] && o.on[i];
        }
        return new EventGrid(segments, classes, r);
    }

    /** This grid with classes whose {@code keep} is false turned off everywhere. */
    public EventGrid mask(boolean[] keep) {
        if (keep.length != classes) {
            throw new IllegalArgumentException("event grid: mask of " + keep.length + " classes for " + classes);
        }
        boolean[] r = on.clone();
        for (int i = 0; i < r.length; i++) {
            r[i] &= keep[i % classes];
        }
        return new EventGrid(segments, classes, r);
    }

    /** The row of class c over time. */
    public boolean[] track(int c) {
        boolean[] r = new boolean[segments];
        for (int t = 0; t < segments; t++) {
            r[t] = get(t, c);
        }
        return r;
    }

    /** Runs of consecutive on segments of class c, as [start, end) pairs in time order. */
    public List<int[]> events(int c) {
        List<int[]> out = new ArrayList<>();
        int t = 0;
        while (t < segments) {
            if (!get(t, c)) {
                t++;
                continue;
            }
            int start = t;
            while (t < segments && get(t, c)) {
                t++;
            }
            out.add(new int[] {start, t});
        }
        return out;
    }

    /** Values 0/1 in row-major [T, C] order. */
    public float[] toFloats() {
        float[] f = new float[on.length];
        for (int i = 0; i < f.length; i++) {
            f[i] = on[i] ? 1 : 0;
        }
        return f;
    }

    public EventGrid copy() {
        return new EventGrid(segments, classes, on.clone());
    }

    private void checkSameSize(EventGrid o) {
        if (o.segments != segments || o.classes != classes) {
            throw new IllegalArgumentException(
                    "event grids of " + segments + " × " + classes + " and " + o.segments + " × " + o.classes);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof EventGrid g && g.segments == segments && g.classes == classes && Arrays.equals(g.on, on);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(on) * 31 + segments;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        for (int c = 0; c < classes; c++) {
            if (present(c)) {
                sb.append(sb.length() == 0 ? "" : " ").append(c).append(':');
                for (int[] e : events(c)) {
                    sb.append('[').append(e[0]).append(',').append(e[1]).append(')');
                }
            }
        }
        return "EventGrid{" + sb + "}";
    }
}
