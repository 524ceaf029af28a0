package fulgur.serve.engine;

import fulgur.ops.attention.PagedKvCache;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * States reached after prompt prefixes, so that a request whose prompt starts with a cached prefix (a chat's next
 * turn, a shared system prompt, a repeated prompt) resumes there instead of prefilling it again. Least recently used
 * entries are dropped beyond a byte budget.
 *
 * <p>An entry is keyed by its prefix length and a 128-bit hash of the prefix's tokens (checked against the stored
 * tokens on a hit). Resuming must give the same bits as prefilling, and prefill runs in chunks that end at multiples
 * of the chunk size, so an entry is usable for a longer prompt only at such a boundary; an entry at a prompt's end
 * keeps the last token's logits and serves a request with exactly that prompt, which then needs no prefill at all.
 * For models with softmax layers an entry also holds the prefix's key/value blocks, shared (not copied) with the
 * sequences that resume from it.
 */
final class PrefixStateCache implements AutoCloseable {
    private final long budget;
    private final int chunk;
    private final LinkedHashMap<Key, Entry> entries = new LinkedHashMap<>(16, 0.75f, true);
    private long bytes;

    /** One cached state. */
    static final class Entry {
        final int[] tokens;
        final List<Tensor> state;
        final PagedKvCache.Sequence kv;
        final float[] logits;
        final long bytes;
        private final Scope scope;

        private Entry(
                int[] tokens, List<Tensor> state, Scope scope, PagedKvCache.Sequence kv, float[] logits, long kvBytes) {
            this.tokens = tokens;
            this.state = state;
            this.scope = scope;
            this.kv = kv;
            this.logits = logits;
            long n = 4L * tokens.length + (logits == null ? 0 : 4L * logits.length) + kvBytes;
            for (Tensor t : state) {
                n += t.numel() * t.dtype().byteSize();
            }
            this.bytes = n;
        }

        int length() {
            return tokens.length;
        }

        void free() {
            scope.close();
            if (kv != null) {
                kv.close();
            }
        }
    }

    private record Key(int length, long h1, long h2) {}

    PrefixStateCache(long budgetBytes, int chunk) {
        this.budget = budgetBytes;
        this.chunk = chunk;
    }

    boolean enabled() {
        return budget > 0;
    }

    long bytes() {
        return bytes;
    }

    int size() {
        return entries.size();
    }

    /**
     * The entry to resume {@code prompt} from: one at the prompt's end with its logits, else the longest at a chunk
     * boundary before the end; null when none.
     */
    Entry lookup(int[] prompt) {
        if (!enabled() || entries.isEmpty()) {
            return null;
        }
        Hasher h = new Hasher();
        Entry best = null;
        for (int i = 0; i < prompt.length; i++) {
            h.add(prompt[i]);
            int len = i + 1;
            boolean end = len == prompt.length;
            if (len % chunk != 0 && !end) {
                continue;
            }
            Entry e = entries.get(new Key(len, h.h1, h.h2));
            if (e == null || !Arrays.equals(e.tokens, 0, len, prompt, 0, len)) {
                continue;
            }
            if (end ? e.logits != null : true) {
                best = e;
            }
        }
        return best;
    }

    /** Whether an entry for {@code prompt[0, length)} exists (with logits when asked). */
    boolean contains(int[] prompt, int length, boolean withLogits) {
        Hasher h = new Hasher();
        for (int i = 0; i < length; i++) {
            h.add(prompt[i]);
        }
        Entry e = entries.get(new Key(length, h.h1, h.h2));
        return e != null && (!withLogits || e.logits != null) && Arrays.equals(e.tokens, 0, length, prompt, 0, length);
    }

    /**
     * Keeps a state reached after {@code prompt[0, length)}: the copies in {@code scope} (taken over: freed with the
     * entry), the shared KV blocks (or null) and the last logits (or null). Drops least recently used entries beyond
     * the budget; an entry larger than the whole budget is not kept.
     */
    void put(
            int[] prompt,
            int length,
            List<Tensor> state,
            Scope scope,
            PagedKvCache.Sequence kv,
            long kvBytes,
            float[] logits) {
        Hasher h = new Hasher();
        for (int i = 0; i < length; i++) {
            h.add(prompt[i]);
        }
        Key key = new Key(length, h.h1, h.h2);
        Entry e = new Entry(Arrays.copyOf(prompt, length), state, scope, kv, logits, kvBytes);
        Entry old = entries.remove(key);
        if (old != null) {
            bytes -= old.bytes;
            old.free();
        }
        if (e.bytes > budget) {
            e.free();
            return;
        }
        entries.put(key, e);
        bytes += e.bytes;
        Iterator<Map.Entry<Key, Entry>> it = entries.entrySet().iterator();
        while (bytes > budget && it.hasNext()) {
            Entry victim = it.next().getValue();
            it.remove();
            bytes -= victim.bytes;
            victim.free();
        }
    }

    @Override
    public void close() {
        for (Entry e : entries.values()) {
            e.free();
        }
        entries.clear();
        bytes = 0;
    }

    /** Two independent 64-bit polynomial hashes of a token sequence, extended one token at a time. */
    private static final class Hasher {
        long h1 = 0x9E3779B97F4A7C15L;
        long h2 = 0xC2B2AE3D27D4EB4FL;

        void add(int token) {
            long t = token & 0xFFFFFFFFL;
            h1 = (h1 ^ t) * 0x100000001B3L + 0x632BE59BD9B4E019L;
            h2 = Long.rotateLeft(h2 + t * 0xFF51AFD7ED558CCDL, 31) * 0xC4CEB9FE1A85EC53L;
        }
    }
}
