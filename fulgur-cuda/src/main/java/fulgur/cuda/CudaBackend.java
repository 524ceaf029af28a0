package fulgur.cuda;

import fulgur.backend.Backend;
import fulgur.backend.Backends;
import fulgur.backend.BinaryOp;
import fulgur.backend.ReduceOp;
import fulgur.backend.UnaryOp;
import fulgur.cuda.backend.CudaCopy;
import fulgur.cuda.backend.CudaElementwise;
import fulgur.cuda.backend.CudaIndexing;
import fulgur.cuda.backend.CudaMatmul;
import fulgur.cuda.backend.CudaNn;
import fulgur.cuda.backend.CudaReduce;
import fulgur.cuda.backend.Gpu;
import fulgur.cuda.cublas.BatchedGemm;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The CUDA backend: every {@link Backend} method on the GPU, with the CPU backend's semantics (dtype rules, shapes,
 * errors). Tensors live in {@link CudaStorage} from the device's caching allocator; all work of one backend is
 * enqueued on one stream (host reads synchronize it). Kernels are {@code .cu} resources compiled by NVRTC at first
 * use ({@code tensor.cu}, {@code nn.cu}); matrix products go to cuBLASLt. The device's runtime (graph capture, deferred
 * checks, memory statistics) is {@link CudaRuntime}; its kernels of op families (lightning attention, ...) are
 * registered by {@link CudaKernelProvider}.
 *
 * <p>Precision: as the CPU backend, bf16/f16 compute in f32 and f64 in f64; f32 matrix products run in full f32
 * unless {@link #allowTf32(boolean)} (or {@code -Dfulgur.cuda.tf32=true}) selects TF32 tensor cores. Elementwise
 * math uses CUDA's accurate (not fast-math) functions; reductions accumulate in f64.
 *
 * <p>Obtain it through {@code Backends.of(Device.cuda(i))} (the {@link CudaBackendProvider} service), or move
 * tensors with {@code Tensor.to(Device.cuda(0))}.
 */
public final class CudaBackend implements Backend {
    private final Gpu gpu;
    private final BatchedGemm gemm;
    private volatile boolean tf32 = Boolean.getBoolean("fulgur.cuda.tf32");

    /**
     * The backend of {@code device}; applications get it through {@link #of(Device)} instead.
     *
     * @param device a CUDA device
     * @throws IllegalArgumentException when {@code device} is not a CUDA device
     * @throws fulgur.cuda.driver.CudaException when the driver or the device cannot be opened
     */
    public CudaBackend(Device device) {
        if (device.kind() != Device.Kind.CUDA)
            throw new IllegalArgumentException("CudaBackend needs a CUDA device, got " + device);
        this.gpu = new Gpu(device);
        this.gemm = new BatchedGemm(gpu.ctx, gpu.stream);
    }

    /**
     * The backend of a CUDA device (through {@link Backends}, so there is one per device).
     *
     * @param device a CUDA device, e.g. {@code Device.cuda(0)}
     * @return its backend
     * @throws IllegalArgumentException when {@code device} is not a CUDA device
     */
    public static CudaBackend of(Device device) {
        if (!(Backends.of(device) instanceof CudaBackend b))
            throw new IllegalArgumentException(device + " is not a CUDA device");
        return b;
    }

    /**
     * The device state the kernels of this backend share (stream, allocator, kernel cache, checks), for family kernels.
     *
     * @return the state
     */
    public Gpu gpu() {
        return gpu;
    }

    /**
     * Selects TF32 tensor cores for f32 matrix products (faster, about 1e-3 relative error) or full f32 (default).
     *
     * @param on true for TF32, false for full f32
     * @return this backend
     */
    public CudaBackend allowTf32(boolean on) {
        this.tf32 = on;
        return this;
    }

    /** {@return whether f32 matrix products use TF32 tensor cores} */
    public boolean tf32() {
        return tf32;
    }

    /**
     * Fills every tensor this backend allocates with 0xFF bytes (NaN in floating dtypes, -1 in integers) so that tests
     * see elements a kernel failed to write ({@code -Dfulgur.cuda.poison=true} sets it from the start).
     *
     * @param on whether to poison new tensors
     * @return this backend
     */
    public CudaBackend poison(boolean on) {
        gpu.poison = on;
        return this;
    }

    /** {@return the device's context} */
    public CudaContext context() {
        return gpu.ctx;
    }

    /**
     * The stream every op of this backend is enqueued on.
     *
     * @return the stream
     */
    public CudaStream stream() {
        return gpu.stream;
    }

    /** Waits for all work enqueued by this backend. */
    public void synchronize() {
        gpu.synchronize();
    }

    /**
     * The caching allocator's counters (in use, peak, reserved, cached bytes).
     *
     * @return the counters
     */
    public CachingAllocator.Report memoryReport() {
        return gpu.ctx.allocator().report();
    }

    @Override
    public Device device() {
        return gpu.device;
    }

    @Override
    public Tensor empty(DType dtype, int[] shape) {
        gpu.bind();
        return gpu.alloc(dtype, shape);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        CudaCopy.copy(gpu, src, dst);
    }

    @Override
    public void fill(Tensor dst, double value) {
        CudaCopy.fill(gpu, dst, value);
    }

    @Override
    public void addInto(Tensor dst, Tensor src) {
        if (!CudaElementwise.addInto(gpu, dst, src)) Backend.super.addInto(dst, src);
    }

    @Override
    public Tensor unary(UnaryOp op, Tensor x, double param) {
        return CudaElementwise.unary(gpu, op, x, param);
    }

    @Override
    public Tensor unaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor dy, double param) {
        return CudaElementwise.unaryBackward(gpu, op, x, y, dy, param);
    }

    @Override
    public Tensor binary(BinaryOp op, Tensor a, Tensor b) {
        return CudaElementwise.binary(gpu, op, a, b);
    }

    @Override
    public Tensor reduce(ReduceOp op, Tensor x, int[] axes, boolean keepDims) {
        return CudaReduce.reduce(gpu, op, x, axes, keepDims);
    }

    @Override
    public Tensor argReduce(boolean max, Tensor x, int axis, boolean keepDim) {
        return CudaReduce.argReduce(gpu, max, x, axis, keepDim);
    }

    @Override
    public Tensor matmul(Tensor a, Tensor b, boolean transA, boolean transB, DType outDtype) {
        return CudaMatmul.matmul(gpu, gemm, tf32, a, b, transA, transB, outDtype);
    }

    /**
     * c ← op(a)·op(b) + beta·c in one product, for operands {@link CudaMatmul#supportsInto} takes (the
     * {@code MatmulIntoKernels} family).
     *
     * @param a the left operand, 2-D
     * @param b the right operand, 2-D, of a's dtype
     * @param transA whether op transposes a
     * @param transB whether op transposes b
     * @param c the output, 2-D with contiguous rows
     * @param beta the factor of c's former contents (0 ignores them)
     */
    public void matmulInto(Tensor a, Tensor b, boolean transA, boolean transB, Tensor c, double beta) {
        CudaMatmul.matmulInto(gpu, gemm, tf32, a, b, transA, transB, c, beta);
    }

    /**
     * A new tensor op(a)·op(b) + addend in one product, or null where {@link CudaMatmul#matmulPlus} does not take the
     * operands (the {@code MatmulIntoKernels} family).
     *
     * @param a the left operand, 2-D
     * @param b the right operand, 2-D, of a's dtype
     * @param transA whether op transposes a
     * @param transB whether op transposes b
     * @param addend the tensor added, contiguous, of the product's shape and the result's dtype
     * @return the sum, or null
     */
    public Tensor matmulPlus(Tensor a, Tensor b, boolean transA, boolean transB, Tensor addend) {
        return CudaMatmul.matmulPlus(gpu, gemm, tf32, a, b, transA, transB, addend);
    }

    @Override
    public Tensor softmax(Tensor x, boolean log) {
        return CudaNn.softmax(gpu, x, log);
    }

    @Override
    public Tensor softmaxBackward(Tensor y, Tensor dy, boolean log) {
        return CudaNn.softmaxBackward(gpu, y, dy, log);
    }

    @Override
    public Tensor crossEntropy(Tensor logits, Tensor targets, int ignoreIndex, double smoothing) {
        return CudaNn.crossEntropy(gpu, logits, targets, ignoreIndex, smoothing);
    }

    @Override
    public Tensor crossEntropyBackward(
            Tensor logits, Tensor targets, int ignoreIndex, double smoothing, Tensor gradOut) {
        return CudaNn.crossEntropyBackward(gpu, logits, targets, ignoreIndex, smoothing, gradOut);
    }

    @Override
    public Tensor embedding(Tensor weight, Tensor ids) {
        return CudaNn.embedding(gpu, weight, ids);
    }

    @Override
    public Tensor[] norm(Tensor x, Tensor weight, Tensor bias, double eps, boolean rms) {
        if (!rms) return CudaNn.layerNorm(gpu, x, weight, bias, eps);
        if (bias != null) throw new IllegalArgumentException("rmsNorm: RMSNorm has no bias, got " + bias.describe());
        Tensor[] r = CudaNn.rmsNorm(gpu, x, weight, eps);
        return new Tensor[] {r[0], null, r[1]};
    }

    @Override
    public Tensor[] normBackward(
            Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, boolean hasBias, Tensor addend) {
        if (mean != null) return CudaNn.layerNormBackward(gpu, x, weight, mean, rstd, dy, hasBias, addend);
        Tensor[] r = CudaNn.rmsNormBackward(gpu, x, weight, rstd, dy, addend);
        return new Tensor[] {r[0], r[1], null};
    }

    @Override
    public Tensor gather(Tensor x, int axis, Tensor index) {
        return CudaIndexing.gather(gpu, x, axis, index);
    }

    @Override
    public Tensor scatterAdd(int[] shape, int axis, Tensor index, Tensor src) {
        return CudaIndexing.scatterAdd(gpu, shape, axis, index, src);
    }

    @Override
    public Tensor indexSelect(Tensor x, int axis, Tensor index) {
        return CudaIndexing.indexSelect(gpu, x, axis, index);
    }

    @Override
    public Tensor indexAdd(int[] shape, int axis, Tensor index, Tensor src) {
        return CudaIndexing.indexAdd(gpu, shape, axis, index, src);
    }

    @Override
    public Tensor where(Tensor cond, Tensor a, Tensor b) {
        return CudaElementwise.where(gpu, cond, a, b);
    }

    @Override
    public Tensor cumsum(Tensor x, int axis, boolean reverse) {
        return CudaReduce.cumsum(gpu, x, axis, reverse);
    }

    @Override
    public Tensor dropoutMask(Tensor like, double p, long stream) {
        return CudaIndexing.dropoutMask(gpu, like, p, stream);
    }

    @Override
    public String toString() {
        return "CudaBackend(" + gpu.device + ": " + gpu.ctx.device() + ")";
    }
}
