package fulgur.tensor;

/**
 * What {@link Tensor}'s methods need from the layers above this package: allocation, filling and copying on a device
 * (the device's backend), reverse-mode differentiation (the autograd engine), and the view and math ops. The ops
 * layer implements it ({@code fulgur.ops.TensorMethodsImpl}, a {@link java.util.ServiceLoader} service of
 * fulgur-core), so this package depends on nothing above it while tensors keep their convenience methods. Not for
 * users: call the methods of {@link Tensor} or the ops classes.
 */
public interface TensorMethods {

    /**
     * Carries out {@link Tensor#empty(DType, Device, int...)}.
     *
     * @param dtype the element type
     * @param device the device
     * @param shape the dimensions
     * @return the tensor, owned by the current scope
     */
    Tensor empty(DType dtype, Device device, int[] shape);

    /**
     * Sets every element of {@code dst} to {@code value}, rounded to its dtype.
     *
     * @param dst the tensor to write
     * @param value the value of every element
     */
    void fill(Tensor dst, double value);

    /**
     * dst ← src (same shape), converting dtype and device, outside the graph.
     *
     * @param src the values
     * @param dst the tensor to write
     */
    void copyInto(Tensor src, Tensor dst);

    /**
     * Carries out {@link Tensor#backward(Tensor)}.
     *
     * @param root the output differentiated
     * @param seed its gradient, or null for a scalar output (seed 1)
     */
    void backward(Tensor root, Tensor seed);

    /**
     * Carries out {@link Tensor#reshape}.
     *
     * @param x the input
     * @param shape the dimensions
     * @return the result
     */
    Tensor reshape(Tensor x, int[] shape);

    /**
     * Carries out {@link Tensor#permute}.
     *
     * @param x the input
     * @param axes the dimensions
     * @return the result
     */
    Tensor permute(Tensor x, int[] axes);

    /**
     * Carries out {@link Tensor#transpose}.
     *
     * @param x the input
     * @param a a dimension
     * @param b a dimension
     * @return the result
     */
    Tensor transpose(Tensor x, int a, int b);

    /**
     * Carries out {@link Tensor#narrow}.
     *
     * @param x the input
     * @param axis the dimension (negative counts from the end)
     * @param start the first position kept
     * @param length how many positions are kept
     * @return the result
     */
    Tensor narrow(Tensor x, int axis, int start, int length);

    /**
     * Carries out {@link Tensor#select}.
     *
     * @param x the input
     * @param axis the dimension (negative counts from the end)
     * @param index the position kept
     * @return the result
     */
    Tensor select(Tensor x, int axis, int index);

    /**
     * Carries out {@link Tensor#expand}.
     *
     * @param x the input
     * @param shape the dimensions
     * @return the result
     */
    Tensor expand(Tensor x, int[] shape);

    /**
     * Carries out {@link Tensor#unsqueeze}.
     *
     * @param x the input
     * @param axis the dimension (negative counts from the end)
     * @return the result
     */
    Tensor unsqueeze(Tensor x, int axis);

    /**
     * Carries out {@link Tensor#squeeze}.
     *
     * @param x the input
     * @param axis the dimension (negative counts from the end)
     * @return the result
     */
    Tensor squeeze(Tensor x, int axis);

    /**
     * Carries out {@link Tensor#contiguous}.
     *
     * @param x the input
     * @return the result
     */
    Tensor contiguous(Tensor x);

    /**
     * Carries out {@link Tensor#to(DType)}.
     *
     * @param x the input
     * @param dtype the element type
     * @return the result
     */
    Tensor cast(Tensor x, DType dtype);

    /**
     * Carries out {@link Tensor#to(Device)}.
     *
     * @param x the input
     * @param device the device
     * @return the result
     */
    Tensor toDevice(Tensor x, Device device);

    /**
     * Carries out {@link Tensor#copy}.
     *
     * @param x the input
     * @return the result
     */
    Tensor copy(Tensor x);

    /**
     * Carries out {@link Tensor#add}.
     *
     * @param a the left operand
     * @param b the right operand
     * @return the result
     */
    Tensor add(Tensor a, Tensor b);

    /**
     * Carries out {@link Tensor#sub}.
     *
     * @param a the left operand
     * @param b the right operand
     * @return the result
     */
    Tensor sub(Tensor a, Tensor b);

    /**
     * Carries out {@link Tensor#mul}.
     *
     * @param a the left operand
     * @param b the right operand
     * @return the result
     */
    Tensor mul(Tensor a, Tensor b);

    /**
     * Carries out {@link Tensor#div}.
     *
     * @param a the left operand
     * @param b the right operand
     * @return the result
     */
    Tensor div(Tensor a, Tensor b);

    /**
     * Carries out {@link Tensor#add(double)}.
     *
     * @param x the input
     * @param c the scalar
     * @return the result
     */
    Tensor addScalar(Tensor x, double c);

    /**
     * Carries out {@link Tensor#mul(double)}.
     *
     * @param x the input
     * @param c the scalar
     * @return the result
     */
    Tensor mulScalar(Tensor x, double c);

    /**
     * Carries out {@link Tensor#pow(double)}.
     *
     * @param x the input
     * @param p the exponent
     * @return the result
     */
    Tensor powScalar(Tensor x, double p);

    /**
     * Carries out {@link Tensor#neg}.
     *
     * @param x the input
     * @return the result
     */
    Tensor neg(Tensor x);

    /**
     * Carries out {@link Tensor#exp}.
     *
     * @param x the input
     * @return the result
     */
    Tensor exp(Tensor x);

    /**
     * Carries out {@link Tensor#log}.
     *
     * @param x the input
     * @return the result
     */
    Tensor log(Tensor x);

    /**
     * Carries out {@link Tensor#sqrt}.
     *
     * @param x the input
     * @return the result
     */
    Tensor sqrt(Tensor x);

    /**
     * Carries out {@link Tensor#rsqrt}.
     *
     * @param x the input
     * @return the result
     */
    Tensor rsqrt(Tensor x);

    /**
     * Carries out {@link Tensor#abs}.
     *
     * @param x the input
     * @return the result
     */
    Tensor abs(Tensor x);

    /**
     * Carries out {@link Tensor#silu}.
     *
     * @param x the input
     * @return the result
     */
    Tensor silu(Tensor x);

    /**
     * Carries out {@link Tensor#sigmoid}.
     *
     * @param x the input
     * @return the result
     */
    Tensor sigmoid(Tensor x);

    /**
     * Carries out {@link Tensor#tanh}.
     *
     * @param x the input
     * @return the result
     */
    Tensor tanh(Tensor x);

    /**
     * Carries out {@link Tensor#relu}.
     *
     * @param x the input
     * @return the result
     */
    Tensor relu(Tensor x);

    /**
     * Carries out {@link Tensor#gelu}.
     *
     * @param x the input
     * @return the result
     */
    Tensor gelu(Tensor x);

    /**
     * Carries out {@link Tensor#matmul}.
     *
     * @param a the left operand
     * @param b the right operand
     * @return the result
     */
    Tensor matmul(Tensor a, Tensor b);

    /**
     * Carries out {@link Tensor#sum}.
     *
     * @param x the input
     * @return the result
     */
    Tensor sum(Tensor x);

    /**
     * Carries out {@link Tensor#sum}.
     *
     * @param x the input
     * @param axes the dimensions
     * @param keepDim whether reduced dimensions stay as size 1
     * @return the result
     */
    Tensor sum(Tensor x, int[] axes, boolean keepDim);

    /**
     * Carries out {@link Tensor#mean}.
     *
     * @param x the input
     * @return the result
     */
    Tensor mean(Tensor x);

    /**
     * Carries out {@link Tensor#mean}.
     *
     * @param x the input
     * @param axes the dimensions
     * @param keepDim whether reduced dimensions stay as size 1
     * @return the result
     */
    Tensor mean(Tensor x, int[] axes, boolean keepDim);

    /**
     * Carries out {@link Tensor#max}.
     *
     * @param x the input
     * @param axes the dimensions
     * @param keepDim whether reduced dimensions stay as size 1
     * @return the result
     */
    Tensor max(Tensor x, int[] axes, boolean keepDim);

    /**
     * Carries out {@link Tensor#argmax}.
     *
     * @param x the input
     * @param axis the dimension (negative counts from the end)
     * @param keepDim whether reduced dimensions stay as size 1
     * @return the result
     */
    Tensor argmax(Tensor x, int axis, boolean keepDim);

    /**
     * Carries out {@link Tensor#softmax}.
     *
     * @param x the input
     * @param axis the dimension (negative counts from the end)
     * @return the result
     */
    Tensor softmax(Tensor x, int axis);

    /**
     * Carries out {@link Tensor#logSoftmax}.
     *
     * @param x the input
     * @param axis the dimension (negative counts from the end)
     * @return the result
     */
    Tensor logSoftmax(Tensor x, int axis);

    /**
     * Carries out {@link Tensor#indexSelect}.
     *
     * @param x the input
     * @param axis the dimension (negative counts from the end)
     * @param index the positions, a 1-D integer tensor
     * @return the result
     */
    Tensor indexSelect(Tensor x, int axis, Tensor index);
}
