package fulgur.ops;

import fulgur.autograd.Autograd;
import fulgur.backend.Backends;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import fulgur.tensor.TensorMethods;

/** {@link Tensor}'s methods: the devices' backends, the autograd engine and the ops classes (a ServiceLoader service). */
public final class TensorMethodsImpl implements TensorMethods {
    @Override
    public Tensor empty(DType dtype, Device device, int[] shape) {
        return Backends.of(device).empty(dtype, shape);
    }

    @Override
    public void fill(Tensor dst, double value) {
        Backends.of(dst).fill(dst, value);
    }

    @Override
    public void copyInto(Tensor src, Tensor dst) {
        Backends.of(dst).copy(src, dst);
    }

    @Override
    public void backward(Tensor root, Tensor seed) {
        Autograd.backward(root, seed);
    }

    @Override
    public Tensor reshape(Tensor x, int[] shape) {
        return Views.reshape(x, shape);
    }

    @Override
    public Tensor permute(Tensor x, int[] axes) {
        return Views.permute(x, axes);
    }

    @Override
    public Tensor transpose(Tensor x, int a, int b) {
        return Views.transpose(x, a, b);
    }

    @Override
    public Tensor narrow(Tensor x, int axis, int start, int length) {
        return Views.narrow(x, axis, start, length);
    }

    @Override
    public Tensor select(Tensor x, int axis, int index) {
        return Views.select(x, axis, index);
    }

    @Override
    public Tensor expand(Tensor x, int[] shape) {
        return Views.expand(x, shape);
    }

    @Override
    public Tensor unsqueeze(Tensor x, int axis) {
        return Views.unsqueeze(x, axis);
    }

    @Override
    public Tensor squeeze(Tensor x, int axis) {
        return Views.squeeze(x, axis);
    }

    @Override
    public Tensor contiguous(Tensor x) {
        return Views.contiguous(x);
    }

    @Override
    public Tensor cast(Tensor x, DType dtype) {
        return Views.cast(x, dtype);
    }

    @Override
    public Tensor toDevice(Tensor x, Device device) {
        return Views.toDevice(x, device);
    }

    @Override
    public Tensor copy(Tensor x) {
        return Views.copy(x);
    }

    @Override
    public Tensor add(Tensor a, Tensor b) {
        return Elementwise.add(a, b);
    }

    @Override
    public Tensor sub(Tensor a, Tensor b) {
        return Elementwise.sub(a, b);
    }

    @Override
    public Tensor mul(Tensor a, Tensor b) {
        return Elementwise.mul(a, b);
    }

    @Override
    public Tensor div(Tensor a, Tensor b) {
        return Elementwise.div(a, b);
    }

    @Override
    public Tensor addScalar(Tensor x, double c) {
        return Elementwise.addScalar(x, c);
    }

    @Override
    public Tensor mulScalar(Tensor x, double c) {
        return Elementwise.mulScalar(x, c);
    }

    @Override
    public Tensor powScalar(Tensor x, double p) {
        return Elementwise.powScalar(x, p);
    }

    @Override
    public Tensor neg(Tensor x) {
        return Elementwise.neg(x);
    }

    @Override
    public Tensor exp(Tensor x) {
        return Elementwise.exp(x);
    }

    @Override
    public Tensor log(Tensor x) {
        return Elementwise.log(x);
    }

    @Override
    public Tensor sqrt(Tensor x) {
        return Elementwise.sqrt(x);
    }

    @Override
    public Tensor rsqrt(Tensor x) {
        return Elementwise.rsqrt(x);
    }

    @Override
    public Tensor abs(Tensor x) {
        return Elementwise.abs(x);
    }

    @Override
    public Tensor silu(Tensor x) {
        return Activations.silu(x);
    }

    @Override
    public Tensor sigmoid(Tensor x) {
        return Activations.sigmoid(x);
    }

    @Override
    public Tensor tanh(Tensor x) {
        return Activations.tanh(x);
    }

    @Override
    public Tensor relu(Tensor x) {
        return Activations.relu(x);
    }

    @Override
    public Tensor gelu(Tensor x) {
        return Activations.gelu(x);
    }

    @Override
    public Tensor matmul(Tensor a, Tensor b) {
        return LinearAlgebra.matmul(a, b);
    }

    @Override
    public Tensor sum(Tensor x) {
        return Reductions.sum(x);
    }

    @Override
    public Tensor sum(Tensor x, int[] axes, boolean keepDim) {
        return Reductions.sum(x, axes, keepDim);
    }

    @Override
    public Tensor mean(Tensor x) {
        return Reductions.mean(x);
    }

    @Override
    public Tensor mean(Tensor x, int[] axes, boolean keepDim) {
        return Reductions.mean(x, axes, keepDim);
    }

    @Override
    public Tensor max(Tensor x, int[] axes, boolean keepDim) {
        return Reductions.max(x, axes, keepDim);
    }

    @Override
    public Tensor argmax(Tensor x, int axis, boolean keepDim) {
        return Reductions.argmax(x, axis, keepDim);
    }

    @Override
    public Tensor softmax(Tensor x, int axis) {
        return Activations.softmax(x, axis);
    }

    @Override
    public Tensor logSoftmax(Tensor x, int axis) {
        return Activations.logSoftmax(x, axis);
    }

    @Override
    public Tensor indexSelect(Tensor x, int axis, Tensor index) {
        return Indexing.indexSelect(x, axis, index);
    }
}
