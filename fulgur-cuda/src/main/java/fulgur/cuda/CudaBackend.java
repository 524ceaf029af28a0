package fulgur.cuda;

import fulgur.backend.Backend;
import fulgur.backend.BinaryOp;
import fulgur.backend.Capturing;
import fulgur.backend.DeferredChecks;
import fulgur.backend.ReduceOp;
import fulgur.backend.StepGraph;
import fulgur.backend.UnaryOp;
import fulgur.cuda.backend.CudaCopy;
import fulgur.cuda.backend.CudaElementwise;
import fulgur.cuda.backend.CudaIndexing;
import fulgur.cuda.backend.CudaLightning;
import fulgur.cuda.backend.CudaMatmul;
import fulgur.cuda.backend.CudaNn;
import fulgur.cuda.backend.CudaReduce;
import fulgur.cuda.backend.Gpu;
import fulgur.cuda.cublas.BatchedGemm;
import fulgur.cuda.driver.CudaException;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The CUDA backend: every {@link Backend} method on the GPU, with the CPU backend's semantics (dtype rules, shapes,
 * errors). Tensors live in {@link CudaStorage} from the device's caching allocator; all work of one backend is
 * enqueued on one stream (host reads synchronize it). Kernels are {@code .cu} resources compiled by NVRTC at first
 * use ({@code tensor.cu}, {@code nn.cu}, {@code lightning.cu}, {@code lightning_generic.cu}); matrix products go to
 * cuBLASLt.
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
  private final CudaLightning lightning;
  private volatile boolean tf32 = Boolean.getBoolean("fulgur.cuda.tf32");

  public CudaBackend(Device device) {
    if (device.kind() != Device.Kind.CUDA) throw new IllegalArgumentException("CudaBackend needs a CUDA device, got " + device);
    this.gpu = new Gpu(device);
    this.gemm = new BatchedGemm(gpu.ctx, gpu.stream);
    this.lightning = new CudaLightning(gpu);
  }

  /** Selects TF32 tensor cores for f32 matrix products (faster, about 1e-3 relative error) or full f32 (default). */
  public CudaBackend allowTf32(boolean on) {
    this.tf32 = on;
    return this;
  }

  public boolean tf32() { return tf32; }

  /**
   * Fills every tensor this backend allocates with 0xFF bytes (NaN in floating dtypes, -1 in integers) so that tests
   * see elements a kernel failed to write ({@code -Dfulgur.cuda.poison=true} sets it from the start).
   */
  public CudaBackend poison(boolean on) {
    gpu.poison = on;
    return this;
  }

  public CudaContext context() { return gpu.ctx; }

  /** The stream every op of this backend is enqueued on. */
  public CudaStream stream() { return gpu.stream; }

  /** Waits for all work enqueued by this backend. */
  public void synchronize() { gpu.synchronize(); }

  /** The caching allocator's counters (in use, peak, reserved, cached bytes). */
  public CachingAllocator.Report memoryReport() { return gpu.ctx.allocator().report(); }

  @Override
  public Device device() { return gpu.device; }

  @Override
  public Tensor empty(DType dtype, int[] shape) {
    gpu.bind();
    return gpu.alloc(dtype, shape);
  }

  @Override
  public void copy(Tensor src, Tensor dst) { CudaCopy.copy(gpu, src, dst); }

  @Override
  public void fill(Tensor dst, double value) { CudaCopy.fill(gpu, dst, value); }

  @Override
  public void addInto(Tensor dst, Tensor src) {
    if (!CudaElementwise.addInto(gpu, dst, src)) Backend.super.addInto(dst, src);
  }

  @Override
  public Tensor unary(UnaryOp op, Tensor x, double param) { return CudaElementwise.unary(gpu, op, x, param); }

  @Override
  public Tensor unaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor dy, double param) {
    return CudaElementwise.unaryBackward(gpu, op, x, y, dy, param);
  }

  @Override
  public Tensor binary(BinaryOp op, Tensor a, Tensor b) { return CudaElementwise.binary(gpu, op, a, b); }

  @Override
  public Tensor reduce(ReduceOp op, Tensor x, int[] axes, boolean keepDims) { return CudaReduce.reduce(gpu, op, x, axes, keepDims); }

  @Override
  public Tensor argReduce(boolean max, Tensor x, int axis, boolean keepDim) { return CudaReduce.argReduce(gpu, max, x, axis, keepDim); }

  @Override
  public Tensor matmul(Tensor a, Tensor b, boolean transA, boolean transB, DType outDtype) {
    return CudaMatmul.matmul(gpu, gemm, tf32, a, b, transA, transB, outDtype);
  }

  @Override
  public Tensor matmulInt8(Tensor x, Tensor q, Tensor scale) { return CudaNn.matmulInt8(gpu, x, q, scale); }

  @Override
  public Tensor softmax(Tensor x, boolean log) { return CudaNn.softmax(gpu, x, log); }

  @Override
  public Tensor softmaxBackward(Tensor y, Tensor dy, boolean log) { return CudaNn.softmaxBackward(gpu, y, dy, log); }

  @Override
  public Tensor crossEntropy(Tensor logits, Tensor targets, int ignoreIndex, double smoothing) {
    return CudaNn.crossEntropy(gpu, logits, targets, ignoreIndex, smoothing);
  }

  @Override
  public Tensor crossEntropyBackward(Tensor logits, Tensor targets, int ignoreIndex, double smoothing, Tensor gradOut) {
    return CudaNn.crossEntropyBackward(gpu, logits, targets, ignoreIndex, smoothing, gradOut);
  }

  @Override
  public Tensor embedding(Tensor weight, Tensor ids) { return CudaNn.embedding(gpu, weight, ids); }

  @Override
  public Tensor embeddingBackward(Tensor dOut, Tensor ids, int vocab) { return CudaNn.embeddingBackward(gpu, dOut, ids, vocab); }

  @Override
  public Tensor[] rmsNorm(Tensor x, Tensor gain, double eps) { return CudaNn.rmsNorm(gpu, x, gain, eps); }

  @Override
  public Tensor siluMul(Tensor gate, Tensor up) {
    return gate.sameShape(up) && gate.dtype() == up.dtype() ? CudaNn.siluMul(gpu, gate, up) : Backend.super.siluMul(gate, up);
  }

  @Override
  public Tensor[] siluMulBackward(Tensor gate, Tensor up, Tensor dy) {
    return gate.sameShape(up) && gate.sameShape(dy) ? CudaNn.siluMulBackward(gpu, gate, up, dy) : Backend.super.siluMulBackward(gate, up, dy);
  }

  @Override
  public Tensor[] rmsNormBackward(Tensor x, Tensor gain, Tensor rstd, Tensor dy) { return CudaNn.rmsNormBackward(gpu, x, gain, rstd, dy); }

  @Override
  public Tensor[] layerNorm(Tensor x, Tensor weight, Tensor bias, double eps) { return CudaNn.layerNorm(gpu, x, weight, bias, eps); }

  @Override
  public Tensor[] layerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, boolean hasBias) {
    return CudaNn.layerNormBackward(gpu, x, weight, mean, rstd, dy, hasBias);
  }

  @Override
  public Tensor concat(Tensor[] xs, int axis) { return CudaIndexing.concat(gpu, xs, axis); }

  @Override
  public Tensor gather(Tensor x, int axis, Tensor index) { return CudaIndexing.gather(gpu, x, axis, index); }

  @Override
  public Tensor scatterAdd(int[] shape, int axis, Tensor index, Tensor src) { return CudaIndexing.scatterAdd(gpu, shape, axis, index, src); }

  @Override
  public Tensor indexSelect(Tensor x, int axis, Tensor index) { return CudaIndexing.indexSelect(gpu, x, axis, index); }

  @Override
  public Tensor indexAdd(int[] shape, int axis, Tensor index, Tensor src) { return CudaIndexing.indexAdd(gpu, shape, axis, index, src); }

  @Override
  public Tensor where(Tensor cond, Tensor a, Tensor b) { return CudaElementwise.where(gpu, cond, a, b); }

  @Override
  public Tensor cumsum(Tensor x, int axis, boolean reverse) { return CudaReduce.cumsum(gpu, x, axis, reverse); }

  @Override
  public Tensor dropoutMask(Tensor like, double p, long stream) { return CudaIndexing.dropoutMask(gpu, like, p, stream); }

  @Override
  public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor schedule, double lrScale, double beta1, double beta2, double eps,
      double weightDecay) {
    CudaIndexing.adamw(gpu, param, grad, m, v, schedule, lrScale, beta1, beta2, eps, weightDecay);
  }

  @Override
  public void adamwAll(java.util.List<AdamWSlot> slots, Tensor schedule, double beta1, double beta2, double eps) {
    CudaIndexing.adamwAll(gpu, slots, schedule, beta1, beta2, eps);
  }

  @Override
  public DeferredChecks deferChecks() { return gpu.deferChecks(); }

  @Override
  public long peakMemoryBytes() { return gpu.ctx.allocator().report().peakInUseBytes(); }

  @Override
  public void resetPeakMemory() { gpu.ctx.allocator().resetPeaks(); }

  /**
   * Captures {@code body} as a CUDA graph on this backend's stream: allocations inside come from a private pool that
   * the graph keeps, index checks write flags that each replay re-arms and {@link StepGraph#replay()} verifies, host
   * data uploaded inside becomes a pinned constant, and a host read inside fails with a message naming it.
   */
  @Override
  public StepGraph capture(Runnable body) {
    gpu.bind();
    gpu.synchronize(); // blocks the capture takes from the cache must be idle
    CachingAllocator allocator = gpu.ctx.allocator();
    CachingAllocator.GraphPool pool = allocator.beginCapture();
    Gpu.Capture recorded = gpu.beginCapture();
    CudaGraph graph;
    try {
      graph = CudaGraph.capture(gpu.stream, () -> Capturing.during(body));
    } catch (RuntimeException | Error e) {
      gpu.endCapture();
      allocator.endCapture(pool);
      recorded.close();
      allocator.releasePool(pool); // nothing of the capture ever ran
      if (e instanceof CudaException c) {
        throw new IllegalStateException("the step cannot be captured as a CUDA graph: " + c.getMessage()
            + " (a call the driver does not allow during capture; run it without graph capture)", c);
      }
      throw e;
    }
    gpu.endCapture();
    allocator.endCapture(pool);
    return new CudaStepGraph(gpu, graph, pool, recorded);
  }

  @Override
  public Tensor lightningForward(Tensor q, Tensor k, Tensor v, double[] slopes, double scale, Tensor initialState, boolean wantFinalState,
      int blockSize, int[] cuSeqlens) {
    return lightning.forward(q, k, v, slopes, scale, initialState, wantFinalState, cuSeqlens);
  }

  @Override
  public Tensor[] lightningBackward(Tensor q, Tensor k, Tensor v, double[] slopes, double scale, Tensor initialState, boolean wantFinalState,
      int blockSize, int[] cuSeqlens, Tensor packedGrad) {
    return lightning.backward(q, k, v, slopes, scale, initialState, wantFinalState, cuSeqlens, packedGrad);
  }

  @Override
  public Tensor lightningRecurrent(Tensor q, Tensor k, Tensor v, double[] slopes, double scale, Tensor state) {
    return lightning.recurrent(q, k, v, slopes, scale, state);
  }

  @Override
  public String toString() { return "CudaBackend(" + gpu.device + ": " + gpu.ctx.device() + ")"; }
}
