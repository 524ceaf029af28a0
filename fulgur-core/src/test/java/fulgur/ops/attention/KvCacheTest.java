package fulgur.ops.attention;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import org.junit.jupiter.api.Test;

class KvCacheTest {

    /** A prefill then one token at a time (with RoPE at the cached offset) equals the whole causal forward. */
    @Test
    void decodingTokenByTokenEqualsTheCausalForward() {
        int b = 2, t = 41, h = 4, hkv = 2, d = 8;
        try (Scope s = Scope.open();
                Scope cacheScope = Scope.detached("kv")) {
            Rng rng = new Rng(5);
            Rope rope = new Rope(d, 4, 10000);
            Tensor q = rng.normal(DType.F32, 0, 1, b, t, h, d);
            Tensor k = rng.normal(DType.F32, 0, 1, b, t, hkv, d);
            Tensor v = rng.normal(DType.F32, 0, 1, b, t, hkv, d);
            double scale = 1 / Math.sqrt(d);
            Tensor full = SoftmaxAttention.attention(rope.apply(q, 0), rope.apply(k, 0), v, scale, true, 0);
            KvCache cache = new KvCache(cacheScope);
            int prefill = 10;
            Tensor[] parts = new Tensor[t - prefill + 1];
            parts[0] = cache.attend(
                    rope.apply(q.narrow(1, 0, prefill), 0),
                    rope.apply(k.narrow(1, 0, prefill), 0),
                    v.narrow(1, 0, prefill),
                    scale);
            for (int i = prefill; i < t; i++) {
                parts[i - prefill + 1] = cache.attend(
                        rope.apply(q.narrow(1, i, 1), i), rope.apply(k.narrow(1, i, 1), i), v.narrow(1, i, 1), scale);
            }
            assertThat(cache.length()).isEqualTo(t);
            assertThat(cache.bytes()).isEqualTo(2L * b * 64 * hkv * d * 4); // capacity doubled 16 → 32 → 64
            Tensor got = fulgur.ops.Views.concat(1, parts);
            assertThat(GradCheck.relErr(got.toFloatArray(), full.toDoubleArray()))
                    .isLessThan(1e-6);
        }
    }

    @Test
    void mismatchedAppendsAreRejected() {
        try (Scope s = Scope.open();
                Scope cacheScope = Scope.detached("kv")) {
            KvCache cache = new KvCache(cacheScope);
            cache.append(Tensor.zeros(1, 2, 2, 4), Tensor.zeros(1, 2, 2, 4));
            assertThatThrownBy(() -> cache.append(Tensor.zeros(1, 1, 3, 4), Tensor.zeros(1, 1, 3, 4)))
                    .hasMessageContaining("do not match the cached");
            assertThatThrownBy(() -> cache.append(Tensor.zeros(1, 1, 2, 4), Tensor.zeros(1, 2, 2, 4)))
                    .hasMessageContaining("expected k [B,T,Hkv,D]");
        }
    }
}
