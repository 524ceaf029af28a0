package fulgur.ops.lightning;

import fulgur.backend.cpu.Parallel;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;

/**
 * Decoding: lightning attention one token at a time against a recurrent state, in the numerically stable form
 * <pre>
 *   S ← λ S + k_tᵀ v_t ,   o_t = scale · q_t S          (λ = exp(−slope), per head)
 * </pre>
 * (the state is decayed; k is never multiplied by λ^{−t}). Feeding a sequence through here token by token, or all at
 * once, gives the same outputs and final state as {@link LightningChunked#forward} started from the same state.
 *
 * <p>Layouts: q, k {@code [B,T,H,dk]}, v, o {@code [B,T,H,dv]} with T the number of new tokens (often 1); state
 * {@code [B,H,dk,dv]}, updated in place. Forward only. Work is spread over (batch, head) pairs on the
 * {@link Parallel} pool, so segments must come from a global, automatic or shared arena.
 */
public final class LightningRecurrent {

    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[3][0]);

    private LightningRecurrent() {}

    /** Consumes {@code shape.seqLen()} tokens per batch row: writes {@code out} and advances {@code state} (f32). */
    public static void forward(
            LightningShape shape,
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            double[] slopes,
            double scale,
            MemorySegment state,
            MemorySegment out) {
        String op = "lightning.recurrent.forward";
        validate(op, shape, q, k, v, slopes, scale, state, out, Float.BYTES);
        int heads = shape.heads(), d = shape.dk(), e = shape.dv(), steps = shape.seqLen();
        int lde = Tiles.pad(e);
        Parallel.forRange(shape.batch() * heads, 1, (u0, u1) -> {
            float[][] scratch = SCRATCH.get();
            if (scratch[0].length < d * lde || scratch[1].length < 2 * d || scratch[2].length < 2 * lde) {
                scratch[0] = new float[d * lde];
                scratch[1] = new float[2 * d]; // q then k
                scratch[2] = new float[2 * lde];
            }
            float[] s = scratch[0], qk = scratch[1], vo = scratch[2];
            for (int u = u0; u < u1; u++) {
                int b = u / heads, h = u % heads;
                double lambda = Math.exp(-slopes[h]);
                float lamHi = (float) lambda, lamLo = (float) (lambda - lamHi);
                long st = (long) u * d * e;
                if (steps == 1 && e % Tiles.L == 0) {
                    // one token (a decoding step): the state is read and written once, where it lies
                    long row = (long) b * heads + h;
                    LightningIo.load(q, row * d, qk, 0, d);
                    LightningIo.load(k, row * d, qk, d, d);
                    LightningIo.load(v, row * e, vo, 0, e);
                    stepInPlace(state, st * Float.BYTES, e, d, qk, vo, lamHi, lamLo, (float) scale);
                    LightningIo.store(vo, lde, out, row * e, e);
                    continue;
                }
                Arrays.fill(s, 0f);
                Arrays.fill(vo, 0f);
                for (int a = 0; a < d; a++) {
                    LightningIo.load(state, st + (long) a * e, s, a * lde, e);
                }
                for (int t = 0; t < steps; t++) {
                    long row = ((long) b * steps + t) * heads + h;
                    LightningIo.load(q, row * d, qk, 0, d);
                    LightningIo.load(k, row * d, qk, d, d);
                    LightningIo.load(v, row * e, vo, 0, e);
                    step(s, lde, d, qk, vo, lamHi, lamLo, (float) scale);
                    LightningIo.store(vo, lde, out, row * e, e);
                }
                for (int a = 0; a < d; a++) {
                    LightningIo.store(s, a * lde, state, st + (long) a * e, e);
                }
            }
        });
    }

    /** The same recurrence on f64 segments (state and all tensors f64), scalar loops. */
    public static void forwardF64(
            LightningShape shape,
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            double[] slopes,
            double scale,
            MemorySegment state,
            MemorySegment out) {
        String op = "lightning.recurrent.forwardF64";
        validate(op, shape, q, k, v, slopes, scale, state, out, Double.BYTES);
        int heads = shape.heads(), d = shape.dk(), e = shape.dv(), steps = shape.seqLen();
        double[] s = new double[d * e], qr = new double[d], kr = new double[d], vr = new double[e], o = new double[e];
        for (int b = 0; b < shape.batch(); b++) {
            for (int h = 0; h < heads; h++) {
                double lambda = Math.exp(-slopes[h]);
                long st = ((long) b * heads + h) * d * e;
                LightningIo.load(state, st, s, 0, d * e);
                for (int t = 0; t < steps; t++) {
                    long row = ((long) b * steps + t) * heads + h;
                    LightningIo.load(q, row * d, qr, 0, d);
                    LightningIo.load(k, row * d, kr, 0, d);
                    LightningIo.load(v, row * e, vr, 0, e);
                    Arrays.fill(o, 0);
                    for (int a = 0; a < d; a++) {
                        for (int c = 0; c < e; c++) {
                            double sv = lambda * s[a * e + c] + kr[a] * vr[c];
                            s[a * e + c] = sv;
                            o[c] += qr[a] * sv;
                        }
                    }
                    for (int c = 0; c < e; c++) {
                        o[c] *= scale;
                    }
                    LightningIo.store(o, 0, out, row * e, e);
                }
                LightningIo.store(s, 0, state, st, d * e);
            }
        }
    }

    /**
     * One token: {@code S[a] = λ S[a] + k[a]·v} and {@code o = Σ_a scale·q[a]·S[a]} in one sweep over the state.
     * {@code qk} holds q then k (d each); {@code vo} holds v (padded to lde, zero padding) then receives o at lde.
     * λ = hi + lo (f32 value and its rounding remainder): the state is decayed as {@code fma(S, hi, fma(S, lo, k·v))}
     * so the f32 rounding of λ does not compound over a long decode.
     */
    private static void step(float[] s, int lde, int d, float[] qk, float[] vo, float lamHi, float lamLo, float scale) {
        FloatVector hi = FloatVector.broadcast(Tiles.S, lamHi);
        FloatVector lo = FloatVector.broadcast(Tiles.S, lamLo);
        for (int c = 0; c < lde; c += Tiles.L) {
            FloatVector.zero(Tiles.S).intoArray(vo, lde + c);
        }
        for (int a = 0; a < d; a++) {
            FloatVector ka = FloatVector.broadcast(Tiles.S, qk[d + a]);
            FloatVector qa = FloatVector.broadcast(Tiles.S, scale * qk[a]);
            int so = a * lde;
            for (int c = 0; c < lde; c += Tiles.L) {
                FloatVector sv = FloatVector.fromArray(Tiles.S, s, so + c);
                FloatVector kv = ka.mul(FloatVector.fromArray(Tiles.S, vo, c));
                sv = sv.fma(hi, sv.fma(lo, kv));
                sv.intoArray(s, so + c);
                qa.fma(sv, FloatVector.fromArray(Tiles.S, vo, lde + c)).intoArray(vo, lde + c);
            }
        }
    }

    /**
     * {@link #step} on the state [d, e] at byte {@code st} of {@code state} (e a multiple of the vector length), with
     * the same operations in the same order, so the state and output are those {@link #step} gives.
     */
    private static void stepInPlace(
            MemorySegment state, long st, int e, int d, float[] qk, float[] vo, float lamHi, float lamLo, float scale) {
        FloatVector hi = FloatVector.broadcast(Tiles.S, lamHi);
        FloatVector lo = FloatVector.broadcast(Tiles.S, lamLo);
        int lde = Tiles.pad(e);
        for (int c = 0; c < e; c += Tiles.L) {
            FloatVector.zero(Tiles.S).intoArray(vo, lde + c);
        }
        for (int a = 0; a < d; a++) {
            FloatVector ka = FloatVector.broadcast(Tiles.S, qk[d + a]);
            FloatVector qa = FloatVector.broadcast(Tiles.S, scale * qk[a]);
            long so = st + (long) a * e * Float.BYTES;
            for (int c = 0; c < e; c += Tiles.L) {
                long at = so + (long) c * Float.BYTES;
                FloatVector sv = FloatVector.fromMemorySegment(Tiles.S, state, at, ByteOrder.nativeOrder());
                FloatVector kv = ka.mul(FloatVector.fromArray(Tiles.S, vo, c));
                sv = sv.fma(hi, sv.fma(lo, kv));
                sv.intoMemorySegment(state, at, ByteOrder.nativeOrder());
                qa.fma(sv, FloatVector.fromArray(Tiles.S, vo, lde + c)).intoArray(vo, lde + c);
            }
        }
    }

    private static void validate(
            String op,
            LightningShape sh,
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            double[] slopes,
            double scale,
            MemorySegment state,
            MemorySegment out,
            int bytes) {
        if (sh == null) {
            throw new IllegalArgumentException(op + ": shape must not be null");
        }
        sh.checkSlopes(op, slopes);
        LightningShape.checkScale(op, scale);
        sh.checkQkv(op, q, k, v, bytes);
        sh.checkSegment(op, "state", state, sh.stateElements(sh.batch()), bytes, "[B,H,dk,dv]");
        sh.checkSegment(op, "out", out, sh.voElements(), bytes, "[B,T,H,dv]");
    }
}
