package fulgur.backend.cpu;

import fulgur.backend.Backend;
import fulgur.backend.BinaryOp;
import fulgur.backend.ReduceOp;
import fulgur.backend.UnaryOp;
import fulgur.ops.lightnet.LightNetCpu;
import fulgur.ops.lightning.LightningCpu;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/** The CPU backend: pure Java, Vector API kernels over off-heap memory, all cores through {@link Parallel}. */
public final class CpuBackend implements Backend {
    public static final CpuBackend INSTANCE = new CpuBackend();

    private CpuBackend() {}

    @Override
    public Device device() {
        return Device.CPU;
    }

    @Override
    public Tensor empty(DType dtype, int[] shape) {
        return CpuSupport.alloc(dtype, shape);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        if (src.device().kind() != Device.Kind.CPU) {
            src.backend().copy(src, dst);
            return;
        }
        CpuSupport.checkCpu("copy", src);
        CpuSupport.checkCpu("copy", dst);
        CpuCopy.copy(src, dst);
    }

    @Override
    public void fill(Tensor dst, double value) {
        CpuSupport.checkCpu("fill", dst);
        CpuCopy.fill(dst, value);
    }

    @Override
    public void addInto(Tensor dst, Tensor src) {
        if (!CpuElementwise.addInto(dst, src)) {
            Backend.super.addInto(dst, src);
        }
    }

    @Override
    public Tensor unary(UnaryOp op, Tensor x, double param) {
        return CpuElementwise.unary(op, x, param);
    }

    @Override
    public Tensor unaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor dy, double param) {
        return CpuElementwise.unaryBackward(op, x, y, dy, param);
    }

    @Override
    public Tensor binary(BinaryOp op, Tensor a, Tensor b) {
        return CpuElementwise.binary(op, a, b);
    }

    @Override
    public Tensor reduce(ReduceOp op, Tensor x, int[] axes, boolean keepDims) {
        return CpuReduce.reduce(op, x, axes, keepDims);
    }

    @Override
    public Tensor argReduce(boolean max, Tensor x, int axis, boolean keepDim) {
        return CpuReduce.argReduce(max, x, axis, keepDim);
    }

    @Override
    public Tensor matmul(Tensor a, Tensor b, boolean transA, boolean transB, DType outDtype) {
        return CpuMatmul.matmul(a, b, transA, transB, outDtype);
    }

    @Override
    public Tensor matmulInt8(Tensor x, Tensor q, Tensor scale) {
        String op = "matmulInt8";
        CpuSupport.checkCpu(op, x);
        CpuSupport.checkCpu(op, q);
        CpuSupport.checkCpu(op, scale);
        int m = x.size(0), k = x.size(1), n = q.size(0);
        Tensor y = CpuSupport.alloc(DType.F32, new int[] {m, n});
        GemmInt8.gemm(m, n, k, x.hostSegment(op), x.offset(), q.hostSegment(op), q.offset(), scale.hostSegment(op), scale.offset(), y.hostSegment(op));
        return y;
    }

    @Override
    public Tensor softmax(Tensor x, boolean log) {
        return CpuNn.softmax(x, log);
    }

    @Override
    public Tensor softmaxBackward(Tensor y, Tensor dy, boolean log) {
        return CpuNn.softmaxBackward(y, dy, log);
    }

    @Override
    public Tensor crossEntropy(Tensor logits, Tensor targets, int ignoreIndex, double smoothing) {
        return CpuNn.crossEntropy(logits, targets, ignoreIndex, smoothing);
    }

    @Override
    public Tensor crossEntropyBackward(Tensor logits, Tensor targets, int ignoreIndex, double smoothing, Tensor gradOut) {
        if (gradOut.numel() != 1 || !gradOut.dtype().isFloating() || !gradOut.device().equals(logits.device())) {
            throw new IllegalArgumentException("crossEntropyBackward: gradOut must be a one-element floating tensor on " + logits.device()
                    + ", got " + gradOut.describe());
        }
        return CpuNn.crossEntropyBackward(logits, targets, ignoreIndex, smoothing, gradOut.item());
    }

    @Override
    public Tensor embedding(Tensor weight, Tensor ids) {
        return CpuNn.embedding(weight, ids);
    }

    @Override
    public Tensor embeddingBackward(Tensor dOut, Tensor ids, int vocab) {
        return CpuNn.embeddingBackward(dOut, ids, vocab);
    }

    @Override
    public Tensor[] rmsNorm(Tensor x, Tensor gain, double eps) {
        return CpuNn.rmsNorm(x, gain, eps);
    }

    @Override
    public Tensor[] rmsNormBackward(Tensor x, Tensor gain, Tensor rstd, Tensor dy) {
        return CpuNn.rmsNormBackward(x, gain, rstd, dy);
    }

    @Override
    public Tensor[] layerNorm(Tensor x, Tensor weight, Tensor bias, double eps) {
        return CpuNn.layerNorm(x, weight, bias, eps);
    }

    @Override
    public Tensor[] layerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, boolean hasBias) {
        return CpuNn.layerNormBackward(x, weight, mean, rstd, dy, hasBias);
    }

    @Override
    public Tensor concat(Tensor[] xs, int axis) {
        return CpuIndexing.concat(xs, axis);
    }

    @Override
    public Tensor gather(Tensor x, int axis, Tensor index) {
        return CpuIndexing.gather(x, axis, index);
    }

    @Override
    public Tensor scatterAdd(int[] shape, int axis, Tensor index, Tensor src) {
        return CpuIndexing.scatterAdd(shape, axis, index, src);
    }

    @Override
    public Tensor indexSelect(Tensor x, int axis, Tensor index) {
        return CpuIndexing.indexSelect(x, axis, index);
    }

    @Override
    public Tensor indexAdd(int[] shape, int axis, Tensor index, Tensor src) {
        return CpuIndexing.indexAdd(shape, axis, index, src);
    }

    @Override
    public Tensor where(Tensor cond, Tensor a, Tensor b) {
        return CpuIndexing.where(cond, a, b);
    }

    @Override
    public Tensor cumsum(Tensor x, int axis, boolean reverse) {
        return CpuIndexing.cumsum(x, axis, reverse);
    }

    @Override
    public Tensor dropoutMask(Tensor like, double p, long stream) {
        return CpuIndexing.dropoutMask(like, p, stream);
    }

    @Override
    public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor schedule, double lrScale, double beta1, double beta2, double eps,
            double weightDecay) {
        CpuOptim.adamw(param, grad, m, v, schedule, lrScale, beta1, beta2, eps, weightDecay);
    }

    @Override
    public Tensor lightningForward(Tensor q, Tensor k, Tensor v, double[] slopes, double scale, Tensor initialState, boolean wantFinalState,
                                   int blockSize, int[] cuSeqlens) {
        return LightningCpu.forward(q, k, v, slopes, scale, initialState, wantFinalState, blockSize, cuSeqlens);
    }

    @Override
    public Tensor[] lightningBackward(Tensor q, Tensor k, Tensor v, double[] slopes, double scale, Tensor initialState, boolean wantFinalState,
                                      int blockSize, int[] cuSeqlens, Tensor packedGrad) {
        return LightningCpu.backward(q, k, v, slopes, scale, initialState, wantFinalState, blockSize, cuSeqlens, packedGrad);
    }

    @Override
    public Tensor lightningRecurrent(Tensor q, Tensor k, Tensor v, double[] slopes, double scale, Tensor state) {
        return LightningCpu.recurrent(q, k, v, slopes, scale, state);
    }

    @Override
    public Tensor lcsmScanForward(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0) {
        return LcsmCpu.forward(i, e, logO, s, m0);
    }

    @Override
    public Tensor[] lcsmScanBackward(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0, Tensor packedGrad) {
        return LcsmCpu.backward(i, e, logO, s, m0, packedGrad);
    }

    @Override
    public Tensor lightnetForward(Tensor q, Tensor k, Tensor v, Tensor s0, Tensor z0) {
        return LightNetCpu.forward(q, k, v, s0, z0);
    }

    @Override
    public Tensor[] lightnetBackward(Tensor q, Tensor k, Tensor v, Tensor s0, Tensor z0, Tensor packedGrad) {
        return LightNetCpu.backward(q, k, v, s0, z0, packedGrad);
    }

    @Override
    public Tensor glaIntraScores(Tensor q, Tensor k, Tensor b) {
        return fulgur.ops.gla.GlaIntra.cpuScores(q, k, b);
    }

    @Override
    public Tensor[] glaIntraScoresBackward(Tensor q, Tensor k, Tensor b, Tensor dA) {
        return fulgur.ops.gla.GlaIntra.cpuScoresBackward(q, k, b, dA);
    }
}
