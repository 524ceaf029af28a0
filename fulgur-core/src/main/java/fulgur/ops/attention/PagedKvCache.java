package fulgur.ops.attention;

import fulgur.autograd.GradMode;
import fulgur.backend.Kernels;
import fulgur.ops.Indexing;
import fulgur.ops.Views;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Keys and values of the softmax layers of many sequences in fixed-size blocks ("paged"): each {@link Sequence} holds a
 * table of block ids, blocks come from a shared free list as its context grows and go back when it ends, so memory
 * follows the tokens held, not the longest context allowed. A block id names the same block in every softmax layer;
 * per layer the blocks live in one tensor [capacity, blockTokens, Hkv, D] allocated at the layer's first write,
 * doubled when the ids outgrow it and freed when no block is in use. Blocks are reference counted: {@link
 * Sequence#share} gives a new sequence the first tokens of another without copying (the prefix state cache), and a
 * shared block is copied before a sequence writes into it. Not thread-safe: one engine thread drives it.
 */
public final class PagedKvCache implements AutoCloseable {
    /** Tokens per block unless asked otherwise. */
    public static final int DEFAULT_BLOCK_TOKENS = 16;

    private final int blockTokens;
    private final Scope scope = Scope.detached("paged-kv");
    private final List<Store> stores = new ArrayList<>();
    private int capacity;
    private int nextId;
    private int[] refs = new int[0];
    private int[] free = new int[0];
    private int freeCount;
    private int inUse;
    private boolean closed;

    public PagedKvCache(int blockTokens) {
        if (blockTokens < 1) {
            throw new IllegalArgumentException("PagedKvCache: block tokens must be >= 1, got " + blockTokens);
        }
        this.blockTokens = blockTokens;
    }

    public int blockTokens() {
        return blockTokens;
    }

    /** An empty sequence (no blocks yet). */
    public Sequence newSequence() {
        checkOpen();
        return new Sequence();
    }

    /** Blocks held by sequences now. */
    public int blocksInUse() {
        return inUse;
    }

    /** Bytes of the blocks in use over every layer written so far. */
    public long bytes() {
        long perBlock = 0;
        for (Store s : stores) {
            if (s != null) {
                perBlock += s.bytesPerBlock();
            }
        }
        return perBlock * inUse;
    }

    /** Bytes the layers' tensors hold (capacity, in use or free). */
    public long reservedBytes() {
        long n = 0;
        for (Store s : stores) {
            if (s != null) {
                n += s.bytesPerBlock() * capacity;
            }
        }
        return n;
    }

    /**
     * The layers of {@code rows} for one forward that appends {@code tokens} tokens to each: blocks for them are taken
     * now (shared last blocks copied), so the layers only write. {@link Rows#advance} commits the tokens afterwards.
     */
    public Rows rows(List<Sequence> rows, int tokens) {
        checkOpen();
        if (tokens < 1) {
            throw new IllegalArgumentException("PagedKvCache.rows: tokens must be >= 1, got " + tokens);
        }
        for (Sequence s : rows) {
            s.reserve(tokens);
        }
        return new Rows(List.copyOf(rows), tokens);
    }

    /** Frees every layer's blocks; sequences still open become unusable. */
    @Override
    public void close() {
        closed = true;
        scope.close();
        stores.clear();
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("PagedKvCache is closed");
        }
    }

    private int allocate() {
        int id;
        if (freeCount > 0) {
            id = free[--freeCount];
        } else {
            id = nextId++;
            if (id >= refs.length) {
                refs = Arrays.copyOf(refs, Math.max(16, refs.length * 2));
            }
            if (id >= capacity && !stores.isEmpty()) {
                grow(id + 1);
            }
        }
        refs[id] = 1;
        inUse++;
        return id;
    }

    private void release(int id) {
        if (--refs[id] > 0) {
            return;
        }
        if (freeCount == free.length) {
            free = Arrays.copyOf(free, Math.max(16, free.length * 2));
        }
        free[freeCount++] = id;
        if (--inUse == 0) {
            // nothing held: give the layers' memory back rather than keep the high-water mark
            for (Store s : stores) {
                if (s != null) {
                    s.keys.close();
                    s.values.close();
                }
            }
            stores.clear();
            capacity = 0;
            nextId = 0;
            freeCount = 0;
        }
    }

    private void grow(int needed) {
        int next = Math.max(needed, Math.max(16, capacity * 2));
        for (Store s : stores) {
            if (s != null) {
                s.resize(next);
            }
        }
        capacity = next;
    }

    private Store store(int layer, Tensor k, Tensor v) {
        while (stores.size() <= layer) {
            stores.add(null);
        }
        Store s = stores.get(layer);
        if (s == null) {
            int cap = Math.max(16, Math.max(capacity, nextId));
            if (cap > capacity) {
                for (Store o : stores) {
                    if (o != null) {
                        o.resize(cap);
                    }
                }
                capacity = cap;
            }
            s = new Store(k, v, capacity);
            stores.set(layer, s);
        } else if (s.keys.size(2) != k.size(2)
                || s.keys.size(3) != k.size(3)
                || s.values.size(3) != v.size(3)
                || s.keys.dtype() != k.dtype()
                || !s.keys.device().equals(k.device())) {
            throw new IllegalArgumentException("PagedKvCache: layer " + layer + " holds " + s.keys.describe() + " / "
                    + s.values.describe() + " blocks, got k " + k.describe() + " and v " + v.describe());
        }
        return s;
    }

    /** One layer's blocks. */
    private final class Store {
        Tensor keys;
        Tensor values;

        Store(Tensor k, Tensor v, int cap) {
            keys = scope.run(() -> Tensor.empty(k.dtype(), k.device(), cap, blockTokens, k.size(2), k.size(3)));
            values = scope.run(() -> Tensor.empty(v.dtype(), v.device(), cap, blockTokens, v.size(2), v.size(3)));
        }

        int capacity() {
            return keys.size(0);
        }

        long bytesPerBlock() {
            return (keys.numel() + values.numel()) / keys.size(0) * keys.dtype().byteSize();
        }

        void resize(int cap) {
            int old = keys.size(0);
            Tensor nk = scope.run(
                    () -> Tensor.empty(keys.dtype(), keys.device(), cap, blockTokens, keys.size(2), keys.size(3)));
            Tensor nv = scope.run(() ->
                    Tensor.empty(values.dtype(), values.device(), cap, blockTokens, values.size(2), values.size(3)));
            int keep = Math.min(old, cap);
            nk.narrow(0, 0, keep).copyFrom(keys.narrow(0, 0, keep));
            nv.narrow(0, 0, keep).copyFrom(values.narrow(0, 0, keep));
            keys.close();
            values.close();
            keys = nk;
            values = nv;
        }

        void copyBlock(int from, int to) {
            keys.select(0, to).copyFrom(keys.select(0, from));
            values.select(0, to).copyFrom(values.select(0, from));
        }
    }

    /** One sequence's block table and length. */
    public final class Sequence implements AutoCloseable {
        private int[] blocks = new int[4];
        private int count;
        private int length;
        private boolean released;

        private Sequence() {}

        /** Tokens whose keys and values are held. */
        public int length() {
            return length;
        }

        /** Blocks held (shared ones included). */
        public int blocks() {
            return count;
        }

        /** A new sequence holding the first {@code tokens} tokens of this one, in the same blocks (no copy). */
        public Sequence share(int tokens) {
            checkLive();
            if (tokens < 0 || tokens > length) {
                throw new IllegalArgumentException(
                        "PagedKvCache.share: " + tokens + " tokens of a sequence of " + length);
            }
            Sequence s = new Sequence();
            int n = (tokens + blockTokens - 1) / blockTokens;
            s.blocks = Arrays.copyOf(blocks, Math.max(4, n));
            s.count = n;
            s.length = tokens;
            for (int i = 0; i < n; i++) {
                refs[blocks[i]]++;
            }
            return s;
        }

        /** Gives the blocks back (once). */
        @Override
        public void close() {
            if (released || closed) {
                released = true;
                return;
            }
            released = true;
            for (int i = 0; i < count; i++) {
                release(blocks[i]);
            }
            count = 0;
        }

        private void checkLive() {
            checkOpen();
            if (released) {
                throw new IllegalStateException("PagedKvCache: the sequence was released");
            }
        }

        /** Blocks for {@code more} tokens after {@link #length}; a shared, partly filled last block is copied first. */
        private void reserve(int more) {
            checkLive();
            if (length % blockTokens != 0 && refs[blocks[count - 1]] > 1) {
                int from = blocks[count - 1];
                int to = allocate();
                for (Store s : stores) {
                    if (s != null) {
                        s.copyBlock(from, to);
                    }
                }
                refs[from]--;
                blocks[count - 1] = to;
            }
            int needed = (length + more + blockTokens - 1) / blockTokens;
            while (count < needed) {
                if (count == blocks.length) {
                    blocks = Arrays.copyOf(blocks, blocks.length * 2);
                }
                blocks[count++] = allocate();
            }
        }
    }

    /** The rows of one forward: each softmax layer of the model attends through {@link #layer}. */
    public final class Rows {
        private final List<Sequence> rows;
        private final int tokens;
        private final Tensor[] index;
        private Tensor table;
        private Tensor lens;

        private Rows(List<Sequence> rows, int tokens) {
            this.rows = rows;
            this.tokens = tokens;
            this.index = new Tensor[rows.size()];
        }

        public int batch() {
            return rows.size();
        }

        /** Each row's length before this forward. */
        public long[] lengths() {
            long[] l = new long[rows.size()];
            for (int i = 0; i < l.length; i++) {
                l[i] = rows.get(i).length;
            }
            return l;
        }

        /** Softmax layer {@code layer} (any index unique to the layer) of these rows. */
        public KvLayer layer(int layer) {
            return new KvLayer() {
                @Override
                public Tensor attend(Tensor q, Tensor k, Tensor v, double scale) {
                    return Rows.this.attend(layer, q, k, v, scale);
                }

                @Override
                public int length() {
                    if (rows.size() != 1) {
                        throw new IllegalStateException("PagedKvCache: " + rows.size() + " rows have a length each");
                    }
                    return rows.get(0).length;
                }
            };
        }

        /** Commits the tokens written by every layer. */
        public void advance(int t) {
            if (t != tokens) {
                throw new IllegalArgumentException(
                        "PagedKvCache.Rows.advance: " + t + " tokens, but blocks were taken for " + tokens);
            }
            for (Sequence s : rows) {
                s.length += t;
            }
        }

        private Tensor attend(int layer, Tensor q, Tensor k, Tensor v, double scale) {
            String op = "pagedKv.attend";
            if (k.ndim() != 4
                    || v.ndim() != 4
                    || q.ndim() != 4
                    || k.size(0) != rows.size()
                    || k.size(1) != tokens
                    || q.size(0) != rows.size()
                    || q.size(1) != tokens
                    || v.size(0) != rows.size()
                    || v.size(1) != tokens) {
                throw new IllegalArgumentException(op + ": expected q, k, v of " + rows.size() + " rows and " + tokens
                        + " tokens, got q " + q.describe() + ", k " + k.describe() + ", v " + v.describe());
            }
            Store s = store(layer, k, v);
            boolean gradWanted = GradMode.isEnabled() && (q.requiresGrad() || k.requiresGrad() || v.requiresGrad());
            try (var g = GradMode.noGrad()) {
                write(s, k, v);
                PagedAttentionKernels paged =
                        tokens == 1 && !gradWanted ? Kernels.find(PagedAttentionKernels.class, q.device()) : null;
                Tensor q1 = paged == null ? null : q.detach().select(1, 0);
                if (paged != null && paged.supports(q1, s.keys, s.values, scale)) {
                    // one call for every row, reading the blocks where they lie
                    Tensor o = paged.decode(q1, s.keys, s.values, table(s), lens(s), scale);
                    return Views.reshape(o, rows.size(), 1, o.size(1), o.size(2));
                }
                Tensor[] outs = new Tensor[rows.size()];
                for (int b = 0; b < rows.size(); b++) {
                    Sequence seq = rows.get(b);
                    int total = seq.length + tokens;
                    Tensor keys = gather(s.keys, b, seq, total);
                    Tensor values = gather(s.values, b, seq, total);
                    outs[b] = SoftmaxAttention.attention(q.narrow(0, b, 1), keys, values, scale, true, seq.length);
                }
                return outs.length == 1 ? outs[0] : Views.concat(0, outs);
            }
        }

        /** Writes each row's new keys and values into their slots. */
        private void write(Store s, Tensor k, Tensor v) {
            for (int b = 0; b < rows.size(); b++) {
                Sequence seq = rows.get(b);
                Tensor kb = k.select(0, b).detach();
                Tensor vb = v.select(0, b).detach();
                for (int i = 0; i < tokens; ) {
                    int pos = seq.length + i;
                    int block = seq.blocks[pos / blockTokens];
                    int off = pos % blockTokens;
                    int n = Math.min(blockTokens - off, tokens - i);
                    s.keys.select(0, block).narrow(0, off, n).copyFrom(kb.narrow(0, i, n));
                    s.values.select(0, block).narrow(0, off, n).copyFrom(vb.narrow(0, i, n));
                    i += n;
                }
            }
        }

        /** The rows' block tables, i32 [rows, most blocks of a row] on the blocks' device (zeros past a row's last). */
        private Tensor table(Store s) {
            if (table == null) {
                int most = 1;
                for (Sequence seq : rows) {
                    most = Math.max(most, (seq.length + tokens + blockTokens - 1) / blockTokens);
                }
                int[] ids = new int[rows.size() * most];
                for (int b = 0; b < rows.size(); b++) {
                    Sequence seq = rows.get(b);
                    System.arraycopy(
                            seq.blocks, 0, ids, b * most, (seq.length + tokens + blockTokens - 1) / blockTokens);
                }
                table = onDevice(Tensor.ofInts(ids, rows.size(), most), s);
            }
            return table;
        }

        /** The rows' lengths after this forward's tokens, i32 [rows] on the blocks' device. */
        private Tensor lens(Store s) {
            if (lens == null) {
                int[] l = new int[rows.size()];
                for (int b = 0; b < l.length; b++) {
                    l[b] = rows.get(b).length + tokens;
                }
                lens = onDevice(Tensor.ofInts(l, l.length), s);
            }
            return lens;
        }

        private static Tensor onDevice(Tensor host, Store s) {
            Device d = s.keys.device();
            return d.kind() == Device.Kind.CPU ? host : host.to(d);
        }

        private Tensor index(int b, Sequence seq, int total) {
            if (index[b] == null) {
                int n = (total + blockTokens - 1) / blockTokens;
                Tensor ids = Tensor.ofInts(Arrays.copyOf(seq.blocks, n), n);
                Device d = s0Device();
                index[b] = d == null || d.kind() == Device.Kind.CPU ? ids : ids.to(d);
            }
            return index[b];
        }

        private Device s0Device() {
            for (Store s : stores) {
                if (s != null) {
                    return s.keys.device();
                }
            }
            return null;
        }

        /**
         * The first {@code total} keys (or values) of a sequence as one contiguous [1, total, heads, d] tensor: a view
         * of the layer's blocks where the sequence's blocks follow one another there (nothing copied), else its
         * blocks gathered. Either way the tokens past {@code total} in the last block are cut off as a view too, so
         * a decoding step copies the cache at most once, not twice.
         */
        private Tensor gather(Tensor blocksOfLayer, int b, Sequence seq, int total) {
            int n = (total + blockTokens - 1) / blockTokens;
            Tensor g = consecutive(seq.blocks, n)
                    ? Views.narrow(blocksOfLayer, 0, seq.blocks[0], n)
                    : Indexing.indexSelect(blocksOfLayer, 0, index(b, seq, total));
            Tensor tokens = Views.narrow(Views.reshape(g, n * blockTokens, g.size(2), g.size(3)), 0, 0, total);
            return Views.reshape(tokens, 1, total, g.size(2), g.size(3));
        }

        private static boolean consecutive(int[] blocks, int n) {
            for (int i = 1; i < n; i++) {
                if (blocks[i] != blocks[0] + i) {
                    return false;
                }
            }
            return true;
        }
    }
}
