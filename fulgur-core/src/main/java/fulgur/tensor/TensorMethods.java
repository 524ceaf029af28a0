package fulgur.tensor;

/**
 * What {@link Tensor}'s methods need from the layers above this package: allocation, filling and copying on a device
 * (the device's backend), reverse-mode differentiation (the autograd engine), and the view and math ops. The ops
 * layer implements it ({@code fulgur.ops.TensorMethodsImpl}, a {@link java.util.ServiceLoader} service of
 * fulgur-core), so this package depends on nothing above it while tensors keep their convenience methods. Not for
 * users: call the methods of {@link Tensor} or the ops classes.
 */
public interface TensorMethods {

    Tensor empty(DType dtype, Device device, int[] shape);

    void fill(Tensor dst, double value);

    /** dst ← src (same shape), converting dtype and device, outside the graph. */
    void copyInto(Tensor src, Tensor dst);

    void backward(Tensor root, Tensor seed);

    Tensor reshape(Tensor x, int[] shape);

    Tensor permute(Tensor x, int[] axes);

    Tensor transpose(Tensor x, int a, int b);

    Tensor narrow(Tensor x, int axis, int start, int length);

    Tensor select(Tensor x, int axis, int index);

    Tensor expand(Tensor x, int[] shape);

    Tensor unsqueeze(Tensor x, int axis);

    Tensor squeeze(Tensor x, int axis);

    Tensor contiguous(Tensor x);

    Tensor cast(Tensor x, DType dtype);

    Tensor toDevice(Tensor x, Device device);

    Tensor copy(Tensor x);

    Tensor add(Tensor a, Tensor b);

    Tensor sub(Tensor a, Tensor b);

    Tensor mul(Tensor a, Tensor b);

    Tensor div(Tensor a, Tensor b);

    Tensor addScalar(Tensor x, double c);

    Tensor mulScalar(Tensor x, double c);

    Tensor powScalar(Tensor x, double p);

    Tensor neg(Tensor x);

    Tensor exp(Tensor x);

    Tensor log(Tensor x);

    Tensor sqrt(Tensor x);

    Tensor rsqrt(Tensor x);

    Tensor abs(Tensor x);

    Tensor silu(Tensor x);

    Tensor sigmoid(Tensor x);

    Tensor tanh(Tensor x);

    Tensor relu(Tensor x);

    Tensor gelu(Tensor x);

    Tensor matmul(Tensor a, Tensor b);

    Tensor sum(Tensor x);

    Tensor sum(Tensor x, int[] axes, boolean keepDim);

    Tensor mean(Tensor x);

    Tensor mean(Tensor x, int[] axes, boolean keepDim);

    Tensor max(Tensor x, int[] axes, boolean keepDim);

    Tensor argmax(Tensor x, int axis, boolean keepDim);

    Tensor softmax(Tensor x, int axis);

    Tensor logSoftmax(Tensor x, int axis);

    Tensor indexSelect(Tensor x, int axis, Tensor index);
}
