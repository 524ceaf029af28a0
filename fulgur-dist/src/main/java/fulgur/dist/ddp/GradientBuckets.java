package fulgur.dist.ddp;

import fulgur.nn.Parameter;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parameters packed into buckets for gradient communication, as torch's DDP does: in reverse registration order
 * (roughly the order the backward finishes their gradients), each bucket closed once it holds at least
 * {@code bucketElements} elements. A bucket is a flat run of its parameters' elements ({@link #offset}). The
 * {@link Tracker} tells, during a backward pass, which buckets have all their gradients, strictly in bucket order, so
 * that every rank launches the same collectives in the same order.
 */
public final class GradientBuckets {
    private final List<Parameter> params;
    private final Map<Tensor, Integer> index = new IdentityHashMap<>();
    private final int[] bucketOf;
    private final int[] positionInBucket;
    private final List<int[]> members = new ArrayList<>();
    private final List<long[]> offsets = new ArrayList<>();
    private final List<Long> elements = new ArrayList<>();

    public GradientBuckets(List<Parameter> parameters, long bucketElements) {
        if (bucketElements < 1) {
            throw new IllegalArgumentException(
                    "gradient buckets: bucket size must be >= 1 element, got " + bucketElements);
        }
        this.params = List.copyOf(parameters);
        this.bucketOf = new int[params.size()];
        this.positionInBucket = new int[params.size()];
        List<Integer> cur = new ArrayList<>();
        long size = 0;
        for (int i = params.size() - 1; i >= 0; i--) {
            Parameter p = params.get(i);
            if (index.put(p.value(), i) != null) {
                throw new IllegalArgumentException("gradient buckets: parameter " + i + " is listed twice");
            }
            cur.add(i);
            size += p.numel();
            if (size >= bucketElements) {
                add(cur);
                cur = new ArrayList<>();
                size = 0;
            }
        }
        if (!cur.isEmpty()) {
            add(cur);
        }
    }

    private void add(List<Integer> m) {
        int b = members.size();
        int[] ids = m.stream().mapToInt(Integer::intValue).toArray();
        long[] offs = new long[ids.length];
        long n = 0;
        for (int j = 0; j < ids.length; j++) {
            offs[j] = n;
            n += params.get(ids[j]).numel();
            bucketOf[ids[j]] = b;
            positionInBucket[ids[j]] = j;
        }
        members.add(ids);
        offsets.add(offs);
        elements.add(n);
    }

    public List<Parameter> params() {
        return params;
    }

    public int count() {
        return members.size();
    }

    /** Indices (into {@link #params()}) of bucket b's parameters, in packing order. */
    public int[] members(int b) {
        return members.get(b).clone();
    }

    /** Where the j-th parameter of bucket b starts in the bucket's flat run. */
    public long offset(int b, int j) {
        return offsets.get(b)[j];
    }

    public long elements(int b) {
        return elements.get(b);
    }

    /** The index of the parameter whose value is {@code leaf}, or −1. */
    public int indexOf(Tensor leaf) {
        Integer i = index.get(leaf);
        return i == null ? -1 : i;
    }

    public int bucketOf(int param) {
        return bucketOf[param];
    }

    /** Position of parameter {@code param} within its bucket. */
    public int positionInBucket(int param) {
        return positionInBucket[param];
    }

    /** Which buckets are complete during one backward pass, released in bucket order. */
    public final class Tracker {
        private final int[] ready = new int[count()];
        private int next;

        /** Forgets the last pass. */
        public void reset() {
            java.util.Arrays.fill(ready, 0);
            next = 0;
        }

        /**
         * Counts {@code leaf}'s gradient as complete and returns the buckets that may be launched now (in order; empty
         * when the leaf is not one of these parameters or an earlier bucket is still incomplete).
         */
        public List<Integer> onLeafGradient(Tensor leaf) {
            int i = indexOf(leaf);
            if (i < 0) {
                return List.of();
            }
            ready[bucketOf[i]]++;
            List<Integer> out = new ArrayList<>();
            while (next < count() && ready[next] == members.get(next).length) {
                out.add(next++);
            }
            return out;
        }

        /** The buckets not released yet (parameters without a gradient in this pass), in order; marks them released. */
        public List<Integer> rest() {
            List<Integer> out = new ArrayList<>();
            while (next < count()) {
                out.add(next++);
            }
            return out;
        }
    }
}
