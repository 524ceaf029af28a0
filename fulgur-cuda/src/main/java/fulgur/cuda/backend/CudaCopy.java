package fulgur.cuda.backend;

import fulgur.backend.Backends;
import fulgur.backend.cpu.CpuBackend;
import fulgur.cuda.DevicePointer;
import fulgur.cuda.driver.CudaDriver;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/** Copies between host and device and within the device: any strides, dtype conversion, fills. */
public final class CudaCopy {
    private CudaCopy() {}

    static final String TENSOR = "tensor.cu";

    /** dst ← src (same shape), each on the CPU or on this backend's device (different GPUs go through the host). */
    public static void copy(Gpu g, Tensor src, Tensor dst) {
        if (!src.sameShape(dst)) {
            throw new IllegalArgumentException(
                    "copy: shape " + Shape.str(src.shape()) + " does not match destination " + dst.describe());
        }
        src.checkAlive("copy");
        dst.checkAlive("copy");
        g.bind();
        long n = src.numel();
        if (n == 0) return;
        boolean sGpu = Gpu.onCuda(src);
        boolean dGpu = Gpu.onCuda(dst);
        if (sGpu && dGpu) {
            if (!src.device().equals(g.device) || !dst.device().equals(g.device)) {
                Tensor host = Tensor.empty(src.dtype(), src.shape());
                Backends.of(src).copy(src, host);
                Backends.of(dst).copy(host, dst);
                host.close();
                return;
            }
            deviceCopy(g, src, dst);
        } else if (dGpu) {
            g.check("copy", dst);
            hostToDevice(g, src, dst);
        } else if (sGpu) {
            g.check("copy", src);
            deviceToHost(g, src, dst);
        } else {
            CpuBackend.INSTANCE.copy(src, dst);
        }
    }

    private static MemorySegment hostBytes(Tensor t) {
        long es = t.dtype().byteSize();
        return t.hostSegment("copy").asSlice(t.offset() * es, t.numel() * es);
    }

    private static void hostToDevice(Gpu g, Tensor src, Tensor dst) {
        Tensor hs = src.isContiguous() ? src : src.detach().contiguous();
        try {
            if (dst.isContiguous() && dst.dtype() == src.dtype()) {
                CudaDriver.get()
                        .memcpyHtoDAsync(
                                g.ptr(dst, "copy").address(),
                                g.uploadSource(hostBytes(hs)),
                                hs.numel() * hs.dtype().byteSize(),
                                g.stream.handle());
                return;
            }
            Tensor tmp = g.alloc(src.dtype(), src.shape());
            CudaDriver.get()
                    .memcpyHtoDAsync(
                            g.ptr(tmp, "copy").address(),
                            g.uploadSource(hostBytes(hs)),
                            hs.numel() * hs.dtype().byteSize(),
                            g.stream.handle());
            deviceCopy(g, tmp, dst);
            tmp.close();
        } finally {
            if (hs != src && hs.storage() != src.storage()) hs.close();
        }
    }

    private static void deviceToHost(Gpu g, Tensor src, Tensor dst) {
        g.refuseHostRead("copy to the host");
        Tensor ds = src.isContiguous() && src.dtype() == dst.dtype() ? src : g.contiguousAs("copy", src, dst.dtype());
        Tensor hd = dst.isContiguous() ? dst : Tensor.empty(dst.dtype(), dst.shape());
        long bytes = ds.numel() * ds.dtype().byteSize();
        CudaDriver.get().memcpyDtoHAsync(hostBytes(hd), g.ptr(ds, "copy").address(), bytes, g.stream.handle());
        g.synchronize();
        Gpu.freeTemp(ds, src);
        if (hd != dst) {
            CpuBackend.INSTANCE.copy(hd, dst);
            hd.close();
        }
    }

    /** dst ← src, both on this device. */
    public static void deviceCopy(Gpu g, Tensor src, Tensor dst) {
        long n = src.numel();
        if (n == 0) return;
        DevicePointer sp = g.ptr(src, "copy");
        DevicePointer dp = g.ptr(dst, "copy");
        if (src.dtype() == dst.dtype() && src.isContiguous() && dst.isContiguous()) {
            long bytes = n * src.dtype().byteSize();
            if (sp.address() == dp.address()) return;
            if ((sp.address() | dp.address() | bytes) % 16 == 0) {
                g.launch(g.kernel(TENSOR, "t_copy16"), bytes / 16, sp, dp, bytes / 16);
            } else {
                fulgur.cuda.KernelProfiler.around(
                        "memcpy DtoD",
                        g.stream,
                        () -> CudaDriver.get().memcpyDtoDAsync(dp.address(), sp.address(), bytes, g.stream.handle()));
            }
            return;
        }
        if (src.isContiguous()
                && dst.isContiguous()
                && src.dtype() != dst.dtype()
                && CudaElementwise.fast(g, src, "copy")
                && CudaElementwise.fast(g, dst, "copy")) {
            g.launch(
                    g.kernel(
                            TENSOR,
                            "t_convert_c_" + CudaElementwise.tn(src.dtype()) + "_" + CudaElementwise.tn(dst.dtype())),
                    Math.max(1, n / 4),
                    sp,
                    dp,
                    n);
            return;
        }
        Desc d = Desc.of("copy", dst.shape(), dst.strides(), src.strides());
        long es = src.dtype().byteSize();
        if (src.dtype() == dst.dtype() && rowsOf16(d, es, sp.address(), dp.address())) {
            long perRow = d.size(1) * es / 16;
            long n16 = d.size(0) * perRow;
            g.launch(
                    g.kernel(TENSOR, "t_copy_rows16"),
                    n16,
                    sp,
                    d.stride(1, 0) * es,
                    dp,
                    d.stride(0, 0) * es,
                    perRow,
                    n16);
            return;
        }
        g.launch(g.kernel(TENSOR, "t_copy"), n, d.struct(), sp, Gpu.code(src.dtype()), dp, Gpu.code(dst.dtype()), n);
    }

    /**
     * Whether a same-dtype copy over {@code d} (operand 0 dst, 1 src) is rows of whole 16-byte chunks: two merged
     * dimensions, the inner one contiguous in both, and rows, row strides and both bases 16-byte aligned.
     */
    static boolean rowsOf16(Desc d, long elementBytes, long srcAddress, long dstAddress) {
        if (d.ndim() != 2 || d.stride(0, 1) != 1 || d.stride(1, 1) != 1) {
            return false;
        }
        long rowBytes = d.size(1) * elementBytes;
        return rowBytes % 16 == 0
                && (d.stride(0, 0) * elementBytes) % 16 == 0
                && (d.stride(1, 0) * elementBytes) % 16 == 0
                && d.stride(0, 0) >= 0
                && d.stride(1, 0) >= 0
                && (srcAddress | dstAddress) % 16 == 0;
    }

    public static void fill(Gpu g, Tensor dst, double value) {
        g.check("fill", dst);
        g.bind();
        long n = dst.numel();
        if (n == 0) return;
        DevicePointer dp = g.ptr(dst, "fill");
        if (dst.isContiguous()
                && value == 0
                && !(Double.doubleToRawLongBits(value) != 0 && dst.dtype().isFloating())) {
            fulgur.cuda.KernelProfiler.around(
                    "memset",
                    g.stream,
                    () -> CudaDriver.get()
                            .memsetD8Async(
                                    dp.address(), (byte) 0, n * dst.dtype().byteSize(), g.stream.handle()));
            return;
        }
        Desc d = Desc.of("fill", dst.shape(), dst.strides());
        g.launch(g.kernel(TENSOR, "t_fill"), n, d.struct(), dp, Gpu.code(dst.dtype()), value, n);
    }
}
