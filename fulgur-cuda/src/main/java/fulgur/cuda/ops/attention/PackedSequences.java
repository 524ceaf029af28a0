package fulgur.cuda.ops.attention;

import fulgur.cuda.ops.LaunchContext;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;

/** Host-side checks and upload of cumulative sequence starts (cu_seqlens) for packed sequences. */
final class PackedSequences {
    private PackedSequences() {}

    /**
     * Checks {@code cu} (starts 0, non-decreasing, ends at {@code rows}, at least one sequence) and returns the longest
     * sequence.
     */
    static int check(String op, String what, int[] cu, int rows) {
        if (cu == null || cu.length < 2) {
            throw new IllegalArgumentException(op + ": " + what + " must hold N+1 >= 2 cumulative sequence starts, got "
                    + (cu == null ? "null" : cu.length + " values"));
        }
        if (cu[0] != 0) throw new IllegalArgumentException(op + ": " + what + "[0] must be 0, got " + cu[0]);
        int max = 0;
        for (int i = 1; i < cu.length; i++) {
            if (cu[i] < cu[i - 1]) {
                throw new IllegalArgumentException(
                        op + ": " + what + " must be non-decreasing, got " + cu[i - 1] + " then " + cu[i] + " at " + i);
            }
            max = Math.max(max, cu[i] - cu[i - 1]);
        }
        if (cu[cu.length - 1] != rows) {
            throw new IllegalArgumentException(
                    op + ": " + what + " must end at the packed row count " + rows + ", got " + cu[cu.length - 1]);
        }
        return max;
    }

    static Tensor upload(LaunchContext lc, int[] cu) {
        Tensor host = Tensor.ofInts(cu, cu.length);
        Tensor d = lc.empty(DType.I32, cu.length);
        lc.backend().copy(host, d);
        host.close();
        return d;
    }
}
