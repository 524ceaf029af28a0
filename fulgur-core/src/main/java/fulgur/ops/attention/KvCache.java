package fulgur.ops.attention;

import fulgur.autograd.GradMode;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;

/**
 * The keys and values one softmax-attention layer has seen while decoding: buffers [B, capacity, Hkv, D] that grow
 * by doubling, living in the owner's scope (not the step's). {@link #attend} appends the new tokens' keys and values
 * and lets the new queries attend causally over everything cached, at the right position offset. No gradients.
 */
public final class KvCache implements KvLayer {
    private final Scope scope;
    private Tensor keys;
    private Tensor values;
    private int length;

    /** A cache whose buffers are allocated in {@code scope} (closing the scope frees them). */
    public KvCache(Scope scope) {
        this.scope = scope;
    }

    /** Tokens cached so far. */
    @Override
    public int length() {
        return length;
    }

    /** Bytes of the buffers held (capacity, not just the filled part). */
    public long bytes() {
        if (keys == null) {
            return 0;
        }
        return keys.numel() * keys.dtype().byteSize()
                + values.numel() * values.dtype().byteSize();
    }

    /** The cached keys [B, length, Hkv, D] (a view). */
    public Tensor keys() {
        return keys == null ? null : keys.narrow(1, 0, length);
    }

    /** The cached values [B, length, Hkv, Dv] (a view). */
    public Tensor values() {
        return values == null ? null : values.narrow(1, 0, length);
    }

    /** Appends k [B, T, Hkv, D] and v [B, T, Hkv, Dv] (copied in, detached). */
    public void append(Tensor k, Tensor v) {
        String op = "kvCache.append";
        if (k.ndim() != 4
                || v.ndim() != 4
                || k.size(0) != v.size(0)
                || k.size(1) != v.size(1)
                || k.size(2) != v.size(2)) {
            throw new IllegalArgumentException(
                    op + ": expected k [B,T,Hkv,D] and v [B,T,Hkv,Dv], got " + k.describe() + " and " + v.describe());
        }
        if (keys != null
                && (k.size(0) != keys.size(0)
                        || k.size(2) != keys.size(2)
                        || k.size(3) != keys.size(3)
                        || v.size(3) != values.size(3)
                        || k.dtype() != keys.dtype()
                        || !k.device().equals(keys.device()))) {
            throw new IllegalArgumentException(op + ": k " + k.describe() + " / v " + v.describe()
                    + " do not match the cached " + keys.describe() + " / " + values.describe());
        }
        int t = k.size(1);
        try (var g = GradMode.noGrad()) {
            ensureCapacity(k, v, length + t);
            keys.narrow(1, length, t).copyFrom(k.detach());
            values.narrow(1, length, t).copyFrom(v.detach());
        }
        length += t;
    }

    /**
     * Appends k, v and returns softmax attention of q [B, T, H, D] over all cached keys, causal, the new queries
     * sitting at positions {@code length()−T ..}: decoding step by step equals the whole sequence's causal forward.
     */
    @Override
    public Tensor attend(Tensor q, Tensor k, Tensor v, double scale) {
        long offset = length;
        append(k, v);
        try (var g = GradMode.noGrad()) {
            return SoftmaxAttention.attention(q, keys().contiguous(), values().contiguous(), scale, true, offset);
        }
    }

    private void ensureCapacity(Tensor k, Tensor v, int needed) {
        int cap = keys == null ? 0 : keys.size(1);
        if (needed <= cap) {
            return;
        }
        int next = Math.max(needed, Math.max(16, cap * 2));
        Tensor nk = scope.run(() -> Tensor.empty(k.dtype(), k.device(), k.size(0), next, k.size(2), k.size(3)));
        Tensor nv = scope.run(() -> Tensor.empty(v.dtype(), v.device(), v.size(0), next, v.size(2), v.size(3)));
        if (keys != null) {
            nk.narrow(1, 0, length).copyFrom(keys.narrow(1, 0, length));
            nv.narrow(1, 0, length).copyFrom(values.narrow(1, 0, length));
            keys.close();
            values.close();
        }
        keys = nk;
        values = nv;
    }
}
