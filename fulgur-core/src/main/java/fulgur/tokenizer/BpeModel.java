package fulgur.tokenizer;

import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The BPE model proper: splits a pre-tokenized word into characters (each a vocabulary id, else byte-fallback
 * tokens, else the unknown token) and applies merges lowest rank first, leftmost first among equal ranks, with a
 * binary heap of candidate pairs and lazy invalidation (as Hugging Face does). Results for repeated words are cached.
 */
final class BpeModel implements WordModel {

    private static final int CACHE_CAPACITY = 10_000;
    private static final int CACHE_MAX_WORD = 256;
    private static final int DIRECT_CHARS = 0x400;

    private final Map<String, Integer> vocab;
    private final PairMap merges;
    private final int[] directCharIds;
    private final int[] byteFallbackIds;
    private final int unkId;
    private final boolean fuseUnk;
    private final boolean byteFallback;
    private final boolean ignoreMerges;
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    /**
     * @param merges pairs in rank order, each as the two ids and the merged id
     * @param unkId the unknown token's id, or -1
     */
    BpeModel(
            Map<String, Integer> vocab,
            int[][] merges,
            int unkId,
            boolean fuseUnk,
            boolean byteFallback,
            boolean ignoreMerges) {
        this.vocab = vocab;
        this.merges = new PairMap(Math.max(16, merges.length * 2));
        for (int rank = 0; rank < merges.length; rank++) {
            int[] m = merges[rank];
            // a pair listed twice keeps its first (lowest) rank, as in Hugging Face
            this.merges.putIfAbsent(m[0], m[1], rank, m[2]);
        }
        this.directCharIds = new int[DIRECT_CHARS];
        Arrays.fill(directCharIds, -1);
        for (int c = 0; c < DIRECT_CHARS; c++) {
            Integer id = vocab.get(String.valueOf((char) c));
            if (id != null && !Character.isSurrogate((char) c)) {
                directCharIds[c] = id;
            }
        }
        this.byteFallbackIds = new int[256];
        for (int b = 0; b < 256; b++) {
            Integer id = vocab.get(String.format("<0x%02X>", b));
            byteFallbackIds[b] = id == null ? -1 : id;
        }
        this.unkId = unkId;
        this.fuseUnk = fuseUnk;
        this.byteFallback = byteFallback;
        this.ignoreMerges = ignoreMerges;
    }

    /** The ids of one word. */
    @Override
    public int[] tokenize(String word) {
        if (word.isEmpty()) {
            return new int[0];
        }
        int[] cached = cache.get(word);
        if (cached != null) {
            return cached;
        }
        int[] ids = compute(word);
        if (word.length() <= CACHE_MAX_WORD && cache.size() < CACHE_CAPACITY) {
            cache.putIfAbsent(word, ids);
        }
        return ids;
    }

    /** The id of byte {@code b}'s fallback token {@code <0xXX>}, or -1. */
    int byteFallbackId(int b) {
        return byteFallbackIds[b & 0xFF];
    }

    boolean byteFallback() {
        return byteFallback;
    }

    int unkId() {
        return unkId;
    }

    private int[] compute(String word) {
        if (ignoreMerges) {
            Integer whole = vocab.get(word);
            if (whole != null) {
                return new int[] {whole};
            }
        }
        // initial symbols
        int n0 = word.length();
        int[] ids = new int[n0 + 8];
        int n = 0;
        boolean lastUnk = false;
        for (int i = 0; i < word.length(); ) {
            int cp = word.codePointAt(i);
            int len = Character.charCount(cp);
            int id = cp < DIRECT_CHARS ? directCharIds[cp] : -1;
            if (id < 0 && cp >= DIRECT_CHARS) {
                Integer boxed = vocab.get(word.substring(i, i + len));
                id = boxed == null ? -1 : boxed;
            }
            i += len;
            if (id >= 0) {
                ids = ensure(ids, n + 1);
                ids[n++] = id;
                lastUnk = false;
                continue;
            }
            if (byteFallback) {
                byte[] utf8 = Utf8.encodeEscaped(cp);
                boolean all = true;
                for (byte b : utf8) {
                    all &= byteFallbackIds[b & 0xFF] >= 0;
                }
                if (all) {
                    ids = ensure(ids, n + utf8.length);
                    for (byte b : utf8) {
                        ids[n++] = byteFallbackIds[b & 0xFF];
                    }
                    lastUnk = false;
                    continue;
                }
            }
            if (unkId < 0) {
                throw new IllegalArgumentException(
                        "cannot tokenize character U+" + Integer.toHexString(cp).toUpperCase() + " in \"" + word
                                + "\": it is not in the vocabulary and the model has neither an unk_token nor byte_fallback");
            }
            if (!(fuseUnk && lastUnk)) {
                ids = ensure(ids, n + 1);
                ids[n++] = unkId;
            }
            lastUnk = true;
        }
        if (n < 2) {
            return Arrays.copyOf(ids, n);
        }
        // linked list of symbols and a heap of candidate merges keyed by (rank, position)
        int[] next = new int[n];
        int[] prev = new int[n];
        for (int i = 0; i < n; i++) {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        LongHeap heap = new LongHeap(n);
        for (int i = 0; i + 1 < n; i++) {
            long m = merges.get(ids[i], ids[i + 1]);
            if (m >= 0) {
                heap.push((m >>> 32) << 32 | i);
            }
        }
        while (!heap.isEmpty()) {
            long top = heap.pop();
            int pos = (int) top;
            int rank = (int) (top >>> 32);
            if (ids[pos] < 0) {
                continue;
            }
            int right = next[pos];
            if (right < 0) {
                continue;
            }
            long m = merges.get(ids[pos], ids[right]);
            if (m < 0 || (int) (m >>> 32) != rank) {
                continue; // stale: this position's pair changed since the entry was pushed
            }
            ids[pos] = (int) m;
            ids[right] = -1;
            int after = next[right];
            next[pos] = after;
            if (after >= 0) {
                prev[after] = pos;
            }
            int before = prev[pos];
            if (before >= 0) {
                long mb = merges.get(ids[before], ids[pos]);
                if (mb >= 0) {
                    heap.push((mb >>> 32) << 32 | before);
                }
            }
            if (after >= 0) {
                long ma = merges.get(ids[pos], ids[after]);
                if (ma >= 0) {
                    heap.push((ma >>> 32) << 32 | pos);
                }
            }
        }
        int count = 0;
        for (int i = 0; i >= 0; i = next[i]) {
            ids[count++] = ids[i];
        }
        return Arrays.copyOf(ids, count);
    }

    private static int[] ensure(int[] a, int size) {
        return size <= a.length ? a : Arrays.copyOf(a, Math.max(size, a.length * 2));
    }

    /** Open-addressing map from an id pair to (rank, merged id) packed in a long; -1 when absent. */
    static final class PairMap {
        private long[] keys;
        private long[] values;
        private int size;
        private int mask;

        PairMap(int expected) {
            int cap = Integer.highestOneBit(Math.max(4, expected) * 2 - 1) * 2;
            keys = new long[cap];
            values = new long[cap];
            Arrays.fill(keys, -1L);
            mask = cap - 1;
        }

        private static int hash(long key) {
            long h = key * 0x9E3779B97F4A7C15L;
            return (int) (h ^ (h >>> 32));
        }

        long get(int a, int b) {
            long key = ((long) a << 32) | (b & 0xFFFF_FFFFL);
            int i = hash(key) & mask;
            while (true) {
                long k = keys[i];
                if (k == key) {
                    return values[i];
                }
                if (k == -1L) {
                    return -1L;
                }
                i = (i + 1) & mask;
            }
        }

        void putIfAbsent(int a, int b, int rank, int merged) {
            if ((size + 1) * 2 > keys.length) {
                grow();
            }
            long key = ((long) a << 32) | (b & 0xFFFF_FFFFL);
            int i = hash(key) & mask;
            while (keys[i] != -1L) {
                if (keys[i] == key) {
                    return;
                }
                i = (i + 1) & mask;
            }
            keys[i] = key;
            values[i] = ((long) rank << 32) | (merged & 0xFFFF_FFFFL);
            size++;
        }

        private void grow() {
            long[] oldK = keys;
            long[] oldV = values;
            keys = new long[oldK.length * 2];
            values = new long[oldK.length * 2];
            Arrays.fill(keys, -1L);
            mask = keys.length - 1;
            for (int j = 0; j < oldK.length; j++) {
                if (oldK[j] != -1L) {
                    int i = hash(oldK[j]) & mask;
                    while (keys[i] != -1L) {
                        i = (i + 1) & mask;
                    }
                    keys[i] = oldK[j];
                    values[i] = oldV[j];
                }
            }
        }
    }

    /** A binary min-heap of longs. */
    static final class LongHeap {
        private long[] a;
        private int n;

        LongHeap(int capacity) {
            a = new long[Math.max(4, capacity)];
        }

        boolean isEmpty() {
            return n == 0;
        }

        void push(long v) {
            if (n == a.length) {
                a = Arrays.copyOf(a, n * 2);
            }
            int i = n++;
            while (i > 0) {
                int p = (i - 1) >>> 1;
                if (a[p] <= v) {
                    break;
                }
                a[i] = a[p];
                i = p;
            }
            a[i] = v;
        }

        long pop() {
            long top = a[0];
            long last = a[--n];
            int i = 0;
            while (true) {
                int l = 2 * i + 1;
                if (l >= n) {
                    break;
                }
                int c = l + 1 < n && a[l + 1] < a[l] ? l + 1 : l;
                if (a[c] >= last) {
                    break;
                }
                a[i] = a[c];
                i = c;
            }
            a[i] = last;
            return top;
        }
    }
}
