package fulgur.backend.cpu;

import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.HostAllocator;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/** Shared plumbing of the CPU kernels: allocation, compute-type conversion, segment access. */
final class CpuSupport {
    private CpuSupport() {}

    static Tensor alloc(DType dtype, int[] shape) {
        return Tensor.wrap(HostAllocator.allocate(dtype, Shape.numel(shape)), dtype, shape);
    }

    /** The type elementwise math runs in: f64 for f64 and integers, f32 otherwise. */
    static DType mathType(DType d) {
        return switch (d) {
            case F64, I32, I64, I8 -> DType.F64;
            default -> DType.F32;
        };
    }

    /** t itself when it is contiguous and of dtype, else a contiguous converted copy. */
    static Tensor contiguousAs(Tensor t, DType dtype) {
        checkCpu("kernel", t);
        if (t.dtype() == dtype && t.isContiguous()) {
            return t;
        }
        Tensor out = alloc(dtype, t.shape());
        CpuCopy.copy(t, out);
        return out;
    }

    /** Converts a contiguous math-type result back to the requested dtype (no copy when equal). */
    static Tensor convert(Tensor t, DType dtype) {
        if (t.dtype() == dtype) {
            return t;
        }
        Tensor out = alloc(dtype, t.shape());
        CpuCopy.copy(t, out);
        return out;
    }

    static MemorySegment seg(Tensor t, String op) {
        return t.hostSegment(op);
    }

    static void checkCpu(String op, Tensor t) {
        if (t.device().kind() != Device.Kind.CPU) {
            throw new IllegalArgumentException(op + ": expected a CPU tensor, got " + t.describe());
        }
        t.checkAlive(op);
    }

    static void checkFloating(String op, Tensor t) {
        if (!t.dtype().isFloating()) {
            throw new IllegalArgumentException(op + ": expected a floating tensor, got " + t.describe());
        }
    }

    static void checkInteger(String op, Tensor t) {
        if (t.dtype() != DType.I32 && t.dtype() != DType.I64) {
            throw new IllegalArgumentException(
                    op + ": expected an integer (i32 or i64) index tensor, got " + t.describe());
        }
    }

    /** Reads integer indices as a long array (any strides). */
    static long[] indices(Tensor idx) {
        return idx.toLongArray();
    }

    /** Promotion of two dtypes for binary ops. */
    static DType promote(DType a, DType b) {
        if (a == b) {
            return a;
        }
        if (a == DType.F64 || b == DType.F64) {
            return DType.F64;
        }
        if (a.isFloating() && b.isFloating()) {
            return DType.F32;
        }
        if (a.isFloating()) {
            return a;
        }
        if (b.isFloating()) {
            return b;
        }
        return DType.I64;
    }
}
