package fulgur.avvp;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Training batches over a set: epoch after epoch, each a permutation of the videos drawn from (seed, epoch); batches
 * run on across epoch boundaries. The position is one number, so a resumed run sees the same batches.
 */
public final class AvvpSampler {
    private final AvvpDataset set;
    private final int batchSize;
    private final long seed;
    private long position;
    private long permutedEpoch = -1;
    private int[] permutation;

    public AvvpSampler(AvvpDataset set, int batchSize, long seed) {
        if (set.size() == 0) {
            throw new IllegalArgumentException("no training videos in " + set.description());
        }
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batch size must be > 0, got " + batchSize);
        }
        this.set = set;
        this.batchSize = batchSize;
        this.seed = seed;
    }

    public AvvpBatch next() {
        List<AvvpVideo> videos = new ArrayList<>(batchSize);
        for (int i = 0; i < batchSize; i++) {
            long epoch = position / set.size();
            if (epoch != permutedEpoch) {
                permutation = permutation(epoch);
                permutedEpoch = epoch;
            }
            videos.add(set.get(permutation[(int) (position % set.size())]));
            position++;
        }
        return AvvpBatch.of(videos);
    }

    private int[] permutation(long epoch) {
        int[] p = new int[set.size()];
        for (int i = 0; i < p.length; i++) {
            p[i] = i;
        }
        SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
        for (int i = p.length - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    /** Videos handed out so far. */
    public long position() {
        return position;
    }

    public Map<String, Object> state() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("kind", "avvp");
        m.put("seed", seed);
        m.put("position", position);
        return m;
    }

    public void restore(Map<String, Object> state) {
        if (state == null
                || !"avvp".equals(state.get("kind"))
                || !(state.get("seed") instanceof Number s)
                || s.longValue() != seed
                || !(state.get("position") instanceof Number p)) {
            throw new IllegalArgumentException(
                    "checkpoint data state " + state + " does not belong to an AVVP run with seed " + seed);
        }
        position = p.longValue();
    }
}
