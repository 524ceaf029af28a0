package fulgur.autograd;

import java.util.ArrayList;
import java.util.List;

/**
 * The parts of one axis that slices have written, as sorted, disjoint, non-touching ranges [start, end). A tensor is
 * cut into a handful of slices, but an axis can be long (a kernel's flat packed result has one index per element), so
 * the cost follows the number of slices, never the axis' length.
 */
final class Coverage {
    /** Receives one maximal run of indices that are all written or all not. */
    interface Run {
        void accept(int from, int to, boolean written);
    }

    private final int size;
    private final List<int[]> ranges = new ArrayList<>();

    Coverage(int size) {
        this.size = size;
    }

    /** Hands over [start, end) as alternating runs of written and unwritten indices, in order. */
    void forEachRun(int start, int end, Run run) {
        int at = start;
        for (int[] r : ranges) {
            if (r[1] <= at) continue;
            if (r[0] >= end) break;
            if (r[0] > at) {
                run.accept(at, r[0], false);
                at = r[0];
            }
            int to = Math.min(r[1], end);
            run.accept(at, to, true);
            at = to;
        }
        if (at < end) run.accept(at, end, false);
    }

    /** Marks [start, end) written, merging it with the ranges it overlaps or touches. */
    void add(int start, int end) {
        if (start >= end) return; // an empty slice writes nothing
        int i = 0;
        while (i < ranges.size() && ranges.get(i)[1] < start) i++;
        while (i < ranges.size() && ranges.get(i)[0] <= end) {
            int[] r = ranges.remove(i);
            start = Math.min(start, r[0]);
            end = Math.max(end, r[1]);
        }
        ranges.add(i, new int[] {start, end});
    }

    /** Whether every index of the axis is written. */
    boolean full() {
        return ranges.size() == 1 && ranges.get(0)[0] == 0 && ranges.get(0)[1] == size;
    }

    int size() {
        return size;
    }
}
