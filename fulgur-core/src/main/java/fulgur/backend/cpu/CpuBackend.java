package fulgur.backend.cpu;

import fulgur.backend.Backend;
import fulgur.backend.Backends;
import fulgur.backend.BinaryOp;
import fulgur.backend.ReduceOp;
import fulgur.backend.UnaryOp;
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
            Backends.of(src).copy(src, dst);
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
    public Tensor crossEntropyBackward(
            Tensor logits, Tensor targets, int ignoreIndex, double smoothing, Tensor gradOut) {
        if (gradOut.numel() != 1
                || !gradOut.dtype().isFloating()
                || !gradOut.device().equals(logits.device())) {
            throw new IllegalArgumentException("crossEntropyBackward: gradOut must be a one-element floating tensor on "
                    + logits.device() + ", got " + gradOut.describe());
        }
        return CpuNn.crossEntropyBackward(logits, targets, ignoreIndex, smoothing, gradOut.item());
    }

    @Override
    public Tensor embedding(Tensor weight, Tensor ids) {
        return CpuNn.embedding(weight, ids);
    }

    @Override
    public Tensor[] norm(Tensor x, Tensor weight, Tensor bias, double eps, boolean rms) {
        if (!rms) {
            return CpuNn.layerNorm(x, weight, bias, eps);
        }
        if (bias != null) {
            throw new IllegalArgumentException("rmsNorm: RMSNorm has no bias, got " + bias.describe());
        }
        Tensor[] r = CpuNn.rmsNorm(x, weight, eps);
        return new Tensor[] {r[0], null, r[1]};
    }

    @Override
    public Tensor[] normBackward(
            Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, boolean hasBias, Tensor addend) {
        if (mean != null) {
            return CpuNn.layerNormBackward(x, weight, mean, rstd, dy, hasBias, addend);
        }
        Tensor[] r = CpuNn.rmsNormBackward(x, weight, rstd, dy, addend);
        return new Tensor[] {r[0], r[1], null};
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
}
