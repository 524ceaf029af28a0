package fulgur.dist;

import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Host memory of tensors taking part in communication, and the element-wise reductions over it. */
public final class HostBuffers {
    private HostBuffers() {}

    /**
     * The tensor's elements as a segment; it must be a contiguous CPU tensor of a dtype that can be reduced.
     *
     * @param op the operation, for errors
     * @param t the tensor
     * @return its elements
     * @throws DistException when the tensor is not on the CPU or not contiguous
     */
    public static MemorySegment segment(String op, Tensor t) {
        t.checkAlive(op);
        if (t.device().kind() != Device.Kind.CPU) {
            throw new DistException(op + ": expected a CPU tensor, got " + t.describe());
        }
        if (!t.isContiguous()) {
            throw new DistException(
                    op + ": expected a contiguous tensor, got " + t.describe() + " (call contiguous() first)");
        }
        long es = t.dtype().byteSize();
        return t.hostSegment(op).asSlice(t.offset() * es, t.numel() * es);
    }

    /**
     * Checks that {@code op} can reduce the dtype.
     *
     * @param op the operation, for errors
     * @param dtype the element type
     * @throws DistException for a dtype other than f32, f64, i32 and i64
     */
    public static void checkReducible(String op, DType dtype) {
        switch (dtype) {
            case F32, F64, I32, I64 -> {}
            default -> throw new DistException(op + ": reductions support f32, f64, i32 and i64, got " + dtype);
        }
    }

    /**
     * dst[i] = reduce over r of srcs[r][srcOffset + i] for i &lt; count (element offsets), reducing in rank order so
     * that the result does not depend on timing. AVG divides the sum by the number of sources.
     *
     * @param dtype the element type
     * @param op the reduction
     * @param srcs each rank's elements
     * @param srcOffset the first element read from each source
     * @param dst where the results go
     * @param count the elements to reduce
     * @throws DistException for an unsupported dtype
     */
    public static void reduce(
            DType dtype, ReduceOp op, MemorySegment[] srcs, long srcOffset, MemorySegment dst, long count) {
        int n = srcs.length;
        switch (dtype) {
            case F32 -> {
                float[] acc = new float[(int) count];
                float[] tmp = new float[(int) count];
                MemorySegment.copy(srcs[0], ValueLayout.JAVA_FLOAT_UNALIGNED, srcOffset * 4, acc, 0, (int) count);
                for (int r = 1; r < n; r++) {
                    MemorySegment.copy(srcs[r], ValueLayout.JAVA_FLOAT_UNALIGNED, srcOffset * 4, tmp, 0, (int) count);
                    for (int i = 0; i < count; i++) {
                        acc[i] = switch (op) {
                            case SUM, AVG -> acc[i] + tmp[i];
                            case MAX -> Math.max(acc[i], tmp[i]);
                            case MIN -> Math.min(acc[i], tmp[i]);
                        };
                    }
                }
                if (op == ReduceOp.AVG) {
                    for (int i = 0; i < count; i++) {
                        acc[i] /= n;
                    }
                }
                MemorySegment.copy(acc, 0, dst, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, (int) count);
            }
            case F64 -> {
                double[] acc = new double[(int) count];
                double[] tmp = new double[(int) count];
                MemorySegment.copy(srcs[0], ValueLayout.JAVA_DOUBLE_UNALIGNED, srcOffset * 8, acc, 0, (int) count);
                for (int r = 1; r < n; r++) {
                    MemorySegment.copy(srcs[r], ValueLayout.JAVA_DOUBLE_UNALIGNED, srcOffset * 8, tmp, 0, (int) count);
                    for (int i = 0; i < count; i++) {
                        acc[i] = switch (op) {
                            case SUM, AVG -> acc[i] + tmp[i];
                            case MAX -> Math.max(acc[i], tmp[i]);
                            case MIN -> Math.min(acc[i], tmp[i]);
                        };
                    }
                }
                if (op == ReduceOp.AVG) {
                    for (int i = 0; i < count; i++) {
                        acc[i] /= n;
                    }
                }
                MemorySegment.copy(acc, 0, dst, ValueLayout.JAVA_DOUBLE_UNALIGNED, 0, (int) count);
            }
            case I32 -> {
                int[] acc = new int[(int) count];
                int[] tmp = new int[(int) count];
                MemorySegment.copy(srcs[0], ValueLayout.JAVA_INT_UNALIGNED, srcOffset * 4, acc, 0, (int) count);
                for (int r = 1; r < n; r++) {
                    MemorySegment.copy(srcs[r], ValueLayout.JAVA_INT_UNALIGNED, srcOffset * 4, tmp, 0, (int) count);
                    for (int i = 0; i < count; i++) {
                        acc[i] = switch (op) {
                            case SUM, AVG -> acc[i] + tmp[i];
                            case MAX -> Math.max(acc[i], tmp[i]);
                            case MIN -> Math.min(acc[i], tmp[i]);
                        };
                    }
                }
                if (op == ReduceOp.AVG) {
                    for (int i = 0; i < count; i++) {
                        acc[i] /= n;
                    }
                }
                MemorySegment.copy(acc, 0, dst, ValueLayout.JAVA_INT_UNALIGNED, 0, (int) count);
            }
            case I64 -> {
                long[] acc = new long[(int) count];
                long[] tmp = new long[(int) count];
                MemorySegment.copy(srcs[0], ValueLayout.JAVA_LONG_UNALIGNED, srcOffset * 8, acc, 0, (int) count);
                for (int r = 1; r < n; r++) {
                    MemorySegment.copy(srcs[r], ValueLayout.JAVA_LONG_UNALIGNED, srcOffset * 8, tmp, 0, (int) count);
                    for (int i = 0; i < count; i++) {
                        acc[i] = switch (op) {
                            case SUM, AVG -> acc[i] + tmp[i];
                            case MAX -> Math.max(acc[i], tmp[i]);
                            case MIN -> Math.min(acc[i], tmp[i]);
                        };
                    }
                }
                if (op == ReduceOp.AVG) {
                    for (int i = 0; i < count; i++) {
                        acc[i] /= n;
                    }
                }
                MemorySegment.copy(acc, 0, dst, ValueLayout.JAVA_LONG_UNALIGNED, 0, (int) count);
            }
            default -> throw new DistException("reduce: unsupported dtype " + dtype);
        }
    }
}
