package fulgur.cuda.ops;

import java.util.Arrays;

/**
 * Packed sequences and their segments, as the scan kernels read them: tokens are rows of a packed [NTOK, ...]
 * tensor (a batch [B, T, ...] is B sequences of T tokens; with {@code cuSeqlens}, B = 1 and sequence n is rows
 * cu[n]..cu[n+1]); each sequence is cut into segments of {@code segLen} tokens (the last one shorter; an empty
 * sequence has none).
 * <pre>
 *   seqTab[4n..4n+3] = (first token, end token, first segment, number of segments)
 *   segTab[4s..4s+3] = (first token, end token, sequence, flags: 1 = first of its sequence, 2 = last)
 * </pre>
 */
public record Sequences(int count, long tokens, int[] seqTab, int[] segTab, int maxSegmentsPerSequence) {

    /** Segments in total. */
    public int segments() {
        return segTab.length / 4;
    }

    /** Tokens of sequence n. */
    public int length(int n) {
        return seqTab[4 * n + 1] - seqTab[4 * n];
    }

    /** Whether a sequence has no token (and so no segment). */
    public boolean hasEmpty() {
        for (int n = 0; n < count; n++) if (length(n) == 0) return true;
        return false;
    }

    /**
     * Starts of the sequences (cu_seqlens): B equal sequences of T tokens, or the given cumulative lengths, every
     * sequence with a token.
     */
    public static int[] starts(String op, int batch, int seqLen, int[] cuSeqlens) {
        return starts(op, batch, seqLen, cuSeqlens, false);
    }

    /** {@link #starts(String, int, int, int[])}, where {@code emptyAllowed} lets a sequence have no token. */
    public static int[] starts(String op, int batch, int seqLen, int[] cuSeqlens, boolean emptyAllowed) {
        if (cuSeqlens == null) {
            if ((long) batch * seqLen > Integer.MAX_VALUE)
                throw new IllegalArgumentException(op + ": B*T = " + (long) batch * seqLen + " tokens is too many");
            int[] cu = new int[batch + 1];
            for (int b = 0; b <= batch; b++) cu[b] = b * seqLen;
            return cu;
        }
        if (batch != 1) {
            throw new IllegalArgumentException(
                    op + ": with cu_seqlens the batch size must be 1 (packed sequences), got B=" + batch);
        }
        if (cuSeqlens.length < 2 || cuSeqlens[0] != 0 || cuSeqlens[cuSeqlens.length - 1] != seqLen) {
            throw new IllegalArgumentException(
                    op + ": cu_seqlens must start at 0 and end at T=" + seqLen + ", got " + Arrays.toString(cuSeqlens));
        }
        for (int i = 1; i < cuSeqlens.length; i++) {
            if (cuSeqlens[i] < cuSeqlens[i - 1]) {
                throw new IllegalArgumentException(
                        op + ": cu_seqlens must not decrease, got " + Arrays.toString(cuSeqlens));
            }
            if (cuSeqlens[i] == cuSeqlens[i - 1] && !emptyAllowed) {
                throw new IllegalArgumentException(
                        op + ": cu_seqlens must increase strictly (every sequence needs a token), got "
                                + Arrays.toString(cuSeqlens));
            }
        }
        return cuSeqlens.clone();
    }

    /** The tables for sequences starting at cu (cu.length - 1 of them) cut into segments of segLen tokens. */
    public static Sequences of(int[] cu, int segLen) {
        if (segLen < 1) throw new IllegalArgumentException("segment length must be >= 1, got " + segLen);
        int n = cu.length - 1;
        int[] seq = new int[4 * n];
        int total = 0, max = 0;
        for (int i = 0; i < n; i++) {
            int ns = count(cu[i + 1] - cu[i], segLen);
            total += ns;
            max = Math.max(max, ns);
        }
        int[] seg = new int[4 * total];
        int s = 0;
        for (int i = 0; i < n; i++) {
            int ns = count(cu[i + 1] - cu[i], segLen);
            seq[4 * i] = cu[i];
            seq[4 * i + 1] = cu[i + 1];
            seq[4 * i + 2] = s;
            seq[4 * i + 3] = ns;
            for (int j = 0; j < ns; j++, s++) {
                seg[4 * s] = cu[i] + j * segLen;
                seg[4 * s + 1] = (int) Math.min(cu[i + 1], cu[i] + (j + 1L) * segLen);
                seg[4 * s + 2] = i;
                seg[4 * s + 3] = (j == 0 ? 1 : 0) | (j == ns - 1 ? 2 : 0);
            }
        }
        return new Sequences(n, cu[n], seq, seg, max);
    }

    private static int count(int len, int segLen) {
        return (int) ((len + (long) segLen - 1) / segLen);
    }

    /**
     * The longest segments (a multiple of {@code block}) that keep the multiprocessors busy: the fewest segments for
     * which {@code ctasPerSegment} CTAs per segment fill the waves of {@code sms} multiprocessors (one CTA each) to at
     * least 85%. Fewer segments mean less state traffic; one segment per sequence skips the state phases.
     */
    public static int segmentLength(int[] cu, long ctasPerSegment, int sms, int block) {
        int longest = 0;
        for (int i = 0; i + 1 < cu.length; i++) longest = Math.max(longest, cu[i + 1] - cu[i]);
        int maxBlocks = Math.max(1, (longest + block - 1) / block);
        int segLen = block;
        for (int ns = 1; ns <= maxBlocks; ns++) {
            segLen = (int)
                    Math.min((long) maxBlocks * block, ((long) ((longest + ns - 1) / ns) + block - 1) / block * block);
            long segs = 0;
            for (int i = 0; i + 1 < cu.length; i++) segs += (cu[i + 1] - cu[i] + segLen - 1) / segLen;
            long ctas = segs * ctasPerSegment;
            long waves = (ctas + sms - 1) / sms;
            if (ctas >= 0.85 * waves * sms) return segLen;
        }
        return segLen;
    }
}
