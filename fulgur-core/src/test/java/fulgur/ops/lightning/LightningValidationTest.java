package fulgur.ops.lightning;

import static fulgur.ops.lightning.LightningTestSupport.f32;
import static fulgur.ops.lightning.LightningTestSupport.f64;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Bad input gets an IllegalArgumentException naming the op, what it got and what it expected. */
class LightningValidationTest {

    final LightningShape sh = new LightningShape(2, 10, 3, 4, 5);
    final double[] slopes = {0.1, 0.2, 0.3};
    Arena arena;
    MemorySegment q, k, v, out, state, dq, dk, dv;

    @BeforeEach
    void setUp() {
        arena = Arena.ofShared();
        q = f32(arena, sh.qkElements());
        k = f32(arena, sh.qkElements());
        v = f32(arena, sh.voElements());
        out = f32(arena, sh.voElements());
        state = f32(arena, sh.stateElements(2));
        dq = f32(arena, sh.qkElements());
        dk = f32(arena, sh.qkElements());
        dv = f32(arena, sh.voElements());
    }

    @AfterEach
    void tearDown() {
        arena.close();
    }

    @Test
    void shapeDimensionsMustBePositive() {
        assertThatThrownBy(() -> new LightningShape(1, 0, 2, 4, 4))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("seqLen=0");
    }

    @Test
    void wrongSegmentSizeNamesTheTensorAndTheExpectedSize() {
        MemorySegment shortQ = f32(arena, sh.qkElements() - 1);
        assertThatThrownBy(() -> LightningChunked.forward(sh, shortQ, k, v, slopes, 1, 64, null, null, out, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("lightning.chunked.forward")
                .hasMessageContaining("q has " + (sh.qkElements() - 1) * 4 + " bytes")
                .hasMessageContaining("expected " + sh.qkElements() * 4 + " bytes")
                .hasMessageContaining("[B,T,H,dk]");
        MemorySegment wideV = f32(arena, sh.voElements() + 5);
        assertThatThrownBy(() -> LightningChunked.forward(sh, q, k, wideV, slopes, 1, 64, null, null, out, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("v has");
        assertThatThrownBy(() -> LightningChunked.forward(sh, q, k, v, slopes, 1, 64, null, null, null, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("out must not be null");
        MemorySegment badState = f32(arena, sh.stateElements(1));
        assertThatThrownBy(() -> LightningChunked.forward(sh, q, k, v, slopes, 1, 64, null, badState, out, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("initialState has");
        assertThatThrownBy(() -> LightningChunked.backward(
                        sh, q, k, v, slopes, 1, 64, null, null, out, badState, dq, dk, dv, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("lightning.chunked.backward")
                .hasMessageContaining("dFinalState has");
        assertThatThrownBy(() ->
                        LightningChunked.backward(sh, q, k, v, slopes, 1, 64, null, null, out, null, dq, dv, dv, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("dk has");
    }

    @Test
    void elementTypeMustMatchTheEntryPoint() {
        // f32 segments given to the f64 path are half the expected size
        assertThatThrownBy(() -> LightningChunked.forwardF64(sh, q, k, v, slopes, 1, 64, null, null, out, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("lightning.chunked.forwardF64")
                .hasMessageContaining("f64");
        MemorySegment q64 = f64(arena, sh.qkElements());
        assertThatThrownBy(() -> LightningChunked.forward(sh, q64, k, v, slopes, 1, 64, null, null, out, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("q has");
    }

    @Test
    void slopesMustMatchHeads() {
        assertThatThrownBy(() ->
                        LightningChunked.forward(sh, q, k, v, new double[] {0.1, 0.2}, 1, 64, null, null, out, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("lightning.chunked.forward: slopes")
                .hasMessageContaining("got length 2, expected length 3");
        assertThatThrownBy(() ->
                        LightningRecurrent.forward(sh, q, k, v, new double[] {0.1, Double.NaN, 0.3}, 1, state, out))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("lightning.recurrent.forward")
                .hasMessageContaining("slopes[1] = NaN");
        assertThatThrownBy(() ->
                        LightningNaive.forward(sh, q, k, v, new double[] {0.1, -1, 0.3}, 1, null, null, out, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("lightning.naive.forward")
                .hasMessageContaining("slopes[1] = -1.0");
    }

    @Test
    void blockSizeAndScale() {
        assertThatThrownBy(() -> LightningChunked.forward(sh, q, k, v, slopes, 1, 0, null, null, out, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("lightning.chunked.forward: blockSize = 0, expected >= 1");
        assertThatThrownBy(() -> LightningChunked.forward(
                        sh, q, k, v, slopes, Double.POSITIVE_INFINITY, 64, null, null, out, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("scale = ");
    }

    @Test
    void cuSeqlensMustBeMonotoneFromZeroToT() {
        LightningShape packed = new LightningShape(1, 20, 3, 4, 5);
        MemorySegment pq = f32(arena, packed.qkElements()), pk = f32(arena, packed.qkElements());
        MemorySegment pv = f32(arena, packed.voElements()), po = f32(arena, packed.voElements());
        String op = "lightning.chunked.forward";
        assertThatThrownBy(() -> LightningChunked.forward(
                        packed, pq, pk, pv, slopes, 1, 64, new int[] {0, 12, 8, 20}, null, po, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(op)
                .hasMessageContaining("cuSeqlens not monotone: cuSeqlens[1] = 12 > cuSeqlens[2] = 8");
        assertThatThrownBy(() ->
                        LightningChunked.forward(packed, pq, pk, pv, slopes, 1, 64, new int[] {1, 20}, null, po, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cuSeqlens[0] = 1, expected 0");
        assertThatThrownBy(() -> LightningChunked.forward(
                        packed, pq, pk, pv, slopes, 1, 64, new int[] {0, 5, 19}, null, po, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cuSeqlens ends at 19, expected T = 20");
        assertThatThrownBy(() ->
                        LightningChunked.forward(packed, pq, pk, pv, slopes, 1, 64, new int[] {0}, null, po, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("at least 2");
        assertThatThrownBy(() ->
                        LightningChunked.forward(sh, q, k, v, slopes, 1, 64, new int[] {0, 10, 20}, null, out, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("batch = 2, expected batch = 1");
        // with N packed sequences the states are [N,H,dk,dv]
        MemorySegment states2 = f32(arena, packed.stateElements(2));
        assertThatThrownBy(() -> LightningChunked.forward(
                        packed, pq, pk, pv, slopes, 1, 64, new int[] {0, 5, 9, 20}, states2, po, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("initialState")
                .hasMessageContaining("[N=3,H,dk,dv]");
    }

    @Test
    void recurrentStateSize() {
        MemorySegment small = f32(arena, sh.stateElements(1));
        assertThatThrownBy(() -> LightningRecurrent.forward(sh, q, k, v, slopes, 1, small, out))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("lightning.recurrent.forward: state has")
                .hasMessageContaining("[B,H,dk,dv]");
    }
}
