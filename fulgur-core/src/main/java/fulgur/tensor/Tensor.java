package fulgur.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.ServiceLoader;

/**
 * An n-dimensional array: a dtype, a shape, element strides and an offset into a {@link Storage}. Views (reshape,
 * permute, narrow, expand, ...) share storage; {@link #contiguous()} copies only when needed. A tensor that requires
 * gradients records the op that produced it, and {@link #backward()} runs reverse-mode differentiation.
 *
 * <p>The methods that compute (creation on a device, views, math, backward) are those of the ops classes
 * ({@code fulgur.ops.Views}, {@code Elementwise}, ...), reached through {@link TensorMethods} so that this package knows
 * nothing of the layers above it.
 */
public final class Tensor implements AutoCloseable {
    private final Storage storage;
    private final DType dtype;
    private final int[] shape;
    private final long[] strides;
    private final long offset;

    private boolean requiresGrad;
    private Tensor grad;
    private GradFn gradFn;
    private String name;

    /** The implementation of the computing methods, loaded at first use. */
    private static final class Ops {
        static final TensorMethods M = load();

        private static TensorMethods load() {
            for (TensorMethods m : ServiceLoader.load(TensorMethods.class, Tensor.class.getClassLoader())) {
                return m;
            }
            throw new IllegalStateException(
                    "no fulgur.tensor.TensorMethods service on the class path (fulgur-core's ops layer is missing)");
        }
    }

    private static TensorMethods ops() {
        return Ops.M;
    }

    private Tensor(Storage storage, DType dtype, int[] shape, long[] strides, long offset) {
        this.storage = storage;
        this.dtype = dtype;
        this.shape = shape;
        this.strides = strides;
        this.offset = offset;
    }

    // ---------------------------------------------------------------- creation

    /**
     * A view of existing storage (no copy). For backends and view ops.
     *
     * @param storage the memory to view
     * @param dtype the element type stored there
     * @param shape the dimensions
     * @param strides the distance in elements between neighbours along each dimension
     * @param offset the index of the first element in the storage, in elements
     * @return the view
     * @throws IllegalArgumentException when shape and strides differ in rank
     */
    public static Tensor view(Storage storage, DType dtype, int[] shape, long[] strides, long offset) {
        if (shape.length != strides.length) {
            throw new IllegalArgumentException(
                    "view: shape " + Shape.str(shape) + " and strides " + Arrays.toString(strides) + " differ in rank");
        }
        return new Tensor(storage, dtype, shape.clone(), strides.clone(), offset);
    }

    /**
     * Wraps freshly allocated storage as a contiguous tensor owned by the current scope.
     *
     * @param storage storage of at least numel elements, owned by no scope
     * @param dtype the element type
     * @param shape the dimensions
     * @return the tensor
     */
    public static Tensor wrap(Storage storage, DType dtype, int[] shape) {
        Scope.current().register(storage);
        return new Tensor(storage, dtype, shape.clone(), Shape.contiguousStrides(shape), 0);
    }

    /**
     * A CPU tensor of {@code shape} with uninitialised contents, owned by the current scope.
     *
     * @param dtype the element type
     * @param shape the dimensions
     * @return the tensor
     * @throws IllegalArgumentException for a negative dimension
     */
    public static Tensor empty(DType dtype, int... shape) {
        return empty(dtype, Device.CPU, shape);
    }

    /**
     * A tensor of {@code shape} on {@code device} with uninitialised contents, owned by the current scope.
     *
     * @param dtype the element type
     * @param device where to allocate
     * @param shape the dimensions
     * @return the tensor
     * @throws IllegalArgumentException for a negative dimension
     */
    public static Tensor empty(DType dtype, Device device, int... shape) {
        Shape.check("empty", shape);
        return ops().empty(dtype, device, shape);
    }

    /**
     * A CPU tensor of zeros.
     *
     * @param dtype the element type
     * @param shape the dimensions
     * @return the tensor, owned by the current scope
     */
    public static Tensor zeros(DType dtype, int... shape) {
        return full(dtype, 0, shape);
    }

    /**
     * A tensor of zeros on {@code device}.
     *
     * @param dtype the element type
     * @param device where to allocate
     * @param shape the dimensions
     * @return the tensor, owned by the current scope
     */
    public static Tensor zeros(DType dtype, Device device, int... shape) {
        return full(dtype, device, 0, shape);
    }

    /**
     * An f32 CPU tensor of zeros.
     *
     * @param shape the dimensions
     * @return the tensor, owned by the current scope
     */
    public static Tensor zeros(int... shape) {
        return zeros(DType.F32, shape);
    }

    /**
     * An f32 CPU tensor of ones.
     *
     * @param shape the dimensions
     * @return the tensor, owned by the current scope
     */
    public static Tensor ones(int... shape) {
        return full(DType.F32, 1, shape);
    }

    /**
     * A CPU tensor with every element {@code value} (rounded to {@code dtype}).
     *
     * @param dtype the element type
     * @param value the value of every element
     * @param shape the dimensions
     * @return the tensor, owned by the current scope
     */
    public static Tensor full(DType dtype, double value, int... shape) {
        return full(dtype, Device.CPU, value, shape);
    }

    /**
     * A tensor on {@code device} with every element {@code value} (rounded to {@code dtype}).
     *
     * @param dtype the element type
     * @param device where to allocate
     * @param value the value of every element
     * @param shape the dimensions
     * @return the tensor, owned by the current scope
     */
    public static Tensor full(DType dtype, Device device, double value, int... shape) {
        Tensor t = empty(dtype, device, shape);
        ops().fill(t, value);
        return t;
    }

    /**
     * An f32 tensor of shape [] holding {@code value}.
     *
     * @param value the value
     * @return the tensor, owned by the current scope
     */
    public static Tensor scalar(double value) {
        return full(DType.F32, value);
    }

    /**
     * A tensor of shape [] holding {@code value} in {@code dtype}.
     *
     * @param dtype the element type
     * @param value the value
     * @return the tensor, owned by the current scope
     */
    public static Tensor scalar(DType dtype, double value) {
        return full(dtype, value);
    }

    /**
     * An f32 CPU tensor holding a copy of {@code data} in row-major order; no shape means a vector of its length.
     *
     * @param data the elements
     * @param shape the dimensions, whose product must equal {@code data.length}
     * @return the tensor, owned by the current scope
     * @throws IllegalArgumentException when the shape does not hold {@code data.length} elements
     */
    public static Tensor of(float[] data, int... shape) {
        Tensor t = empty(DType.F32, checkLength("of", data.length, shape));
        MemorySegment.copy(data, 0, t.hostSegment("of"), ValueLayout.JAVA_FLOAT, 0, data.length);
        return t;
    }

    /**
     * An f64 CPU tensor holding a copy of {@code data} in row-major order; no shape means a vector of its length.
     *
     * @param data the elements
     * @param shape the dimensions, whose product must equal {@code data.length}
     * @return the tensor, owned by the current scope
     * @throws IllegalArgumentException when the shape does not hold {@code data.length} elements
     */
    public static Tensor of(double[] data, int... shape) {
        Tensor t = empty(DType.F64, checkLength("of", data.length, shape));
        MemorySegment.copy(data, 0, t.hostSegment("of"), ValueLayout.JAVA_DOUBLE, 0, data.length);
        return t;
    }

    /**
     * An i32 CPU tensor (token ids, targets) holding a copy of {@code data} in row-major order.
     *
     * @param data the elements
     * @param shape the dimensions, whose product must equal {@code data.length}; none for a vector
     * @return the tensor, owned by the current scope
     * @throws IllegalArgumentException when the shape does not hold {@code data.length} elements
     */
    public static Tensor ofInts(int[] data, int... shape) {
        Tensor t = empty(DType.I32, checkLength("ofInts", data.length, shape));
        MemorySegment.copy(data, 0, t.hostSegment("ofInts"), ValueLayout.JAVA_INT, 0, data.length);
        return t;
    }

    /**
     * An i64 CPU tensor (indices) holding a copy of {@code data} in row-major order.
     *
     * @param data the elements
     * @param shape the dimensions, whose product must equal {@code data.length}; none for a vector
     * @return the tensor, owned by the current scope
     * @throws IllegalArgumentException when the shape does not hold {@code data.length} elements
     */
    public static Tensor ofLongs(long[] data, int... shape) {
        Tensor t = empty(DType.I64, checkLength("ofLongs", data.length, shape));
        MemorySegment.copy(data, 0, t.hostSegment("ofLongs"), ValueLayout.JAVA_LONG, 0, data.length);
        return t;
    }

    /**
     * Values of {@code data} converted to {@code dtype}.
     *
     * @param dtype the element type
     * @param data the elements
     * @param shape the dimensions, whose product must equal {@code data.length}; none for a vector
     * @return a CPU tensor, owned by the current scope
     * @throws IllegalArgumentException when the shape does not hold {@code data.length} elements
     */
    public static Tensor of(DType dtype, double[] data, int... shape) {
        if (dtype == DType.F64) {
            return of(data, shape);
        }
        Tensor t = empty(dtype, checkLength("of", data.length, shape));
        MemorySegment seg = t.hostSegment("of");
        if (dtype == DType.F32) {
            for (int i = 0; i < data.length; i++) {
                seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) data[i]);
            }
        } else {
            for (int i = 0; i < data.length; i++) {
                Elements.set(seg, dtype, i, data[i]);
            }
        }
        return t;
    }

    /**
     * 0, 1, ..., n-1 as i64.
     *
     * @param n the length (≥ 0)
     * @return an i64 CPU vector [n]
     */
    public static Tensor arange(int n) {
        long[] v = new long[n];
        for (int i = 0; i < n; i++) {
            v[i] = i;
        }
        return ofLongs(v, n);
    }

    private static int[] checkLength(String op, int length, int[] shape) {
        int[] s = shape.length == 0 && length != 1 ? new int[] {length} : shape;
        Shape.check(op, s);
        if (Shape.numel(s) != length) {
            throw new IllegalArgumentException(op + ": " + length + " values do not fill shape " + Shape.str(s) + " ("
                    + Shape.numel(s) + " elements)");
        }
        return s;
    }

    // ---------------------------------------------------------------- metadata

    /**
     * The element type.
     *
     * @return the dtype
     */
    public DType dtype() {
        return dtype;
    }

    /**
     * The device whose memory holds the elements.
     *
     * @return the device
     */
    public Device device() {
        return storage.device();
    }

    /**
     * The memory this tensor is a view of (shared with every other view of it).
     *
     * @return the storage
     */
    public Storage storage() {
        return storage;
    }

    /**
     * The sizes of the dimensions (a copy).
     *
     * @return the shape
     */
    public int[] shape() {
        return shape.clone();
    }

    /**
     * Size of dimension {@code axis} (negative counts from the end).
     *
     * @param axis the dimension
     * @return its size
     * @throws IllegalArgumentException when {@code axis} is out of range
     */
    public int size(int axis) {
        return shape[Shape.axis("size", axis, shape.length)];
    }

    /**
     * The number of dimensions (0 for a scalar).
     *
     * @return the rank
     */
    public int ndim() {
        return shape.length;
    }

    /**
     * The number of elements: the product of the shape.
     *
     * @return the element count
     */
    public long numel() {
        return Shape.numel(shape);
    }

    /**
     * The distance in elements between neighbours along each dimension (a copy).
     *
     * @return the strides
     */
    public long[] strides() {
        return strides.clone();
    }

    /**
     * The stride of dimension {@code axis} (negative counts from the end).
     *
     * @param axis the dimension
     * @return its stride, in elements
     * @throws IllegalArgumentException when {@code axis} is out of range
     */
    public long stride(int axis) {
        return strides[Shape.axis("stride", axis, shape.length)];
    }

    /**
     * The index of the first element in the storage, in elements.
     *
     * @return the offset
     */
    public long offset() {
        return offset;
    }

    /**
     * Whether the elements lie in row-major order without gaps (dimensions of size 1 ignored).
     *
     * @return true when the layout is row-major and dense
     */
    public boolean isContiguous() {
        long expected = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && strides[i] != expected) {
                return false;
            }
            expected *= shape[i];
        }
        return true;
    }

    /**
     * Whether {@code o} has this tensor's shape.
     *
     * @param o the other tensor
     * @return true when the shapes are equal
     */
    public boolean sameShape(Tensor o) {
        return Arrays.equals(shape, o.shape);
    }

    /**
     * The name given with {@link #setName}, or null; error messages and {@link #describe()} show it.
     *
     * @return the name, or null
     */
    public String name() {
        return name;
    }

    /**
     * Names this tensor for error messages and {@link #describe()}; returns it.
     *
     * @param name the name, or null to remove it
     * @return this tensor
     */
    public Tensor setName(String name) {
        this.name = name;
        return this;
    }

    /**
     * The host memory of this tensor's storage (CPU only), checking it was not freed.
     *
     * @param op the operation to name in errors
     * @return the memory of the whole storage (the tensor starts at {@link #offset()})
     * @throws IllegalStateException when the tensor is not on the CPU or its storage was freed
     */
    public MemorySegment hostSegment(String op) {
        if (!(storage instanceof HostStorage hs)) {
            throw new IllegalStateException(op + ": tensor is on " + device() + ", expected a CPU tensor");
        }
        return hs.segment(op);
    }

    /**
     * Throws if the storage was freed.
     *
     * @param op the operation to name in the error
     * @return this tensor
     * @throws IllegalStateException when the storage was freed
     */
    public Tensor checkAlive(String op) {
        if (storage.isReleased()) {
            throw new IllegalStateException(
                    op + ": use of a freed tensor " + describe() + " (its scope was closed or it was released;"
                            + " a backward that frees activations releases each after its last use)");
        }
        return this;
    }

    /**
     * Name, dtype, shape and device in one short string, e.g. {@code "q:f32[2, 8, 64]@cpu"}.
     *
     * @return the description
     */
    public String describe() {
        return (name != null ? name + ":" : "") + dtype + Shape.str(shape) + "@" + device();
    }

    // ---------------------------------------------------------------- autograd

    /**
     * Whether gradients flow to or through this tensor.
     *
     * @return true for a leaf that requires gradients or a tensor computed from one
     */
    public boolean requiresGrad() {
        return requiresGrad;
    }

    /**
     * Marks a leaf tensor as needing gradients.
     *
     * @param value whether to accumulate a gradient in {@link #grad()}
     * @return this tensor
     * @throws IllegalArgumentException when {@code value} is true for an integer tensor
     */
    public Tensor requiresGrad(boolean value) {
        if (value && !dtype.isFloating()) {
            throw new IllegalArgumentException(
                    "requiresGrad: only floating tensors can require gradients, got " + describe());
        }
        this.requiresGrad = value;
        return this;
    }

    /**
     * The gradient accumulated by {@link #backward()} (leaf tensors), or null.
     *
     * @return the gradient, or null
     */
    public Tensor grad() {
        return grad;
    }

    /**
     * Replaces the accumulated gradient (optimizers and the autograd engine use it).
     *
     * @param g the new gradient (this tensor's shape), or null to clear it
     */
    public void setGrad(Tensor g) {
        this.grad = g;
    }

    /** Drops the accumulated gradient (the next backward allocates a fresh one). */
    public void zeroGrad() {
        this.grad = null;
    }

    /**
     * The op that produced this tensor in the graph, or null for a leaf.
     *
     * @return the node, or null
     */
    public GradFn gradFn() {
        return gradFn;
    }

    /**
     * Attaches the node that produced this tensor (called by ops).
     *
     * @param node the node
     * @return this tensor, now requiring gradients
     */
    public Tensor withGradFn(GradFn node) {
        this.gradFn = node;
        this.requiresGrad = true;
        return this;
    }

    /**
     * Whether this tensor was not produced by a recorded op (inputs and parameters).
     *
     * @return true when {@link #gradFn()} is null
     */
    public boolean isLeaf() {
        return gradFn == null;
    }

    /** Reverse-mode differentiation from this scalar; leaf gradients accumulate into {@link #grad()}. */
    public void backward() {
        ops().backward(this, null);
    }

    /**
     * Reverse-mode differentiation from this tensor with {@code seed} as its gradient (its shape).
     *
     * @param seed the gradient of the final output with respect to this tensor
     * @throws IllegalArgumentException when {@code seed}'s shape differs from this tensor's
     */
    public void backward(Tensor seed) {
        ops().backward(this, seed);
    }

    /**
     * The same data, cut from the graph.
     *
     * @return a tensor sharing this storage, with no gradient function and not requiring gradients
     */
    public Tensor detach() {
        return new Tensor(storage, dtype, shape, strides, offset);
    }

    // ---------------------------------------------------------------- views

    /**
     * The same elements in a new shape; -1 infers one dimension. A view when the strides allow, else a copy.
     *
     * @param newShape the new dimensions, at most one -1
     * @return the reshaped tensor
     * @throws IllegalArgumentException when the element counts differ or the shape has several -1
     */
    public Tensor reshape(int... newShape) {
        return ops().reshape(this, newShape);
    }

    /**
     * A view with the dimensions reordered: dimension i of the result is dimension {@code axes[i]} of this.
     *
     * @param axes a permutation of 0..ndim-1
     * @return the view
     * @throws IllegalArgumentException when {@code axes} is not a permutation of the dimensions
     */
    public Tensor permute(int... axes) {
        return ops().permute(this, axes);
    }

    /**
     * A view with dimensions {@code a} and {@code b} swapped.
     *
     * @param a one dimension (negative counts from the end)
     * @param b the other
     * @return the view
     * @throws IllegalArgumentException when an axis is out of range
     */
    public Tensor transpose(int a, int b) {
        return ops().transpose(this, a, b);
    }

    /**
     * Transpose of the last two dimensions.
     *
     * @return the view
     * @throws IllegalArgumentException when the tensor has fewer than 2 dimensions
     */
    public Tensor mT() {
        return ops().transpose(this, -2, -1);
    }

    /**
     * A view of {@code length} positions of {@code axis} from {@code start}.
     *
     * @param axis the dimension (negative counts from the end)
     * @param start the first position kept
     * @param length how many positions are kept
     * @return the view
     * @throws IllegalArgumentException when the range does not fit in the dimension
     */
    public Tensor narrow(int axis, int start, int length) {
        return ops().narrow(this, axis, start, length);
    }

    /**
     * A view of position {@code index} of {@code axis}, that dimension removed.
     *
     * @param axis the dimension (negative counts from the end)
     * @param index the position kept
     * @return the view
     * @throws IllegalArgumentException when the axis is out of range
     * @throws IndexOutOfBoundsException when the index is out of range
     */
    public Tensor select(int axis, int index) {
        return ops().select(this, axis, index);
    }

    /**
     * A view that broadcasts size-1 dimensions (and new leading ones) to {@code newShape}; -1 keeps a dimension.
     *
     * @param newShape the target dimensions
     * @return the view (stride 0 along broadcast dimensions)
     * @throws IllegalArgumentException when a dimension of size other than 1 would change
     */
    public Tensor expand(int... newShape) {
        return ops().expand(this, newShape);
    }

    /**
     * A view with a new dimension of size 1 at {@code axis}.
     *
     * @param axis where the new dimension goes, in [-ndim-1, ndim]
     * @return the view
     * @throws IllegalArgumentException when {@code axis} is out of range
     */
    public Tensor unsqueeze(int axis) {
        return ops().unsqueeze(this, axis);
    }

    /**
     * A view without dimension {@code axis}, which must have size 1.
     *
     * @param axis the dimension (negative counts from the end)
     * @return the view
     * @throws IllegalArgumentException when the dimension does not have size 1
     */
    public Tensor squeeze(int axis) {
        return ops().squeeze(this, axis);
    }

    /**
     * The elements as one dimension.
     *
     * @return a 1-D tensor of {@link #numel()} elements (a view when contiguous)
     */
    public Tensor flatten() {
        return reshape(Shape.toInt("flatten", numel()));
    }

    /**
     * This tensor when contiguous, else a contiguous copy (in the graph).
     *
     * @return a contiguous tensor
     */
    public Tensor contiguous() {
        return ops().contiguous(this);
    }

    /**
     * This tensor in {@code target} (itself when it already is); gradients convert back.
     *
     * @param target the element type
     * @return the converted tensor
     */
    public Tensor to(DType target) {
        return ops().cast(this, target);
    }

    /**
     * This tensor on {@code target} (itself when it already is); gradients transfer back.
     *
     * @param target the device
     * @return the tensor on that device
     */
    public Tensor to(Device target) {
        return ops().toDevice(this, target);
    }

    /**
     * A contiguous copy (always copies), in the graph.
     *
     * @return the copy
     */
    public Tensor copy() {
        return ops().copy(this);
    }

    // ---------------------------------------------------------------- math (see the ops classes)

    /**
     * this + o, elementwise with broadcasting.
     *
     * @param o the other operand
     * @return the sum
     * @throws IllegalArgumentException when the shapes cannot be broadcast together or the operands' devices differ
     */
    public Tensor add(Tensor o) {
        return ops().add(this, o);
    }

    /**
     * this − o, elementwise with broadcasting.
     *
     * @param o the other operand
     * @return the difference
     * @throws IllegalArgumentException when the shapes cannot be broadcast together or the operands' devices differ
     */
    public Tensor sub(Tensor o) {
        return ops().sub(this, o);
    }

    /**
     * this · o, elementwise with broadcasting.
     *
     * @param o the other operand
     * @return the product
     * @throws IllegalArgumentException when the shapes cannot be broadcast together or the operands' devices differ
     */
    public Tensor mul(Tensor o) {
        return ops().mul(this, o);
    }

    /**
     * this / o, elementwise with broadcasting.
     *
     * @param o the divisor
     * @return the quotient
     * @throws IllegalArgumentException when the shapes cannot be broadcast together or the operands' devices differ
     */
    public Tensor div(Tensor o) {
        return ops().div(this, o);
    }

    /**
     * this + s, elementwise.
     *
     * @param s the scalar
     * @return the sum
     */
    public Tensor add(double s) {
        return ops().addScalar(this, s);
    }

    /**
     * this · s, elementwise.
     *
     * @param s the scalar
     * @return the product
     */
    public Tensor mul(double s) {
        return ops().mulScalar(this, s);
    }

    /**
     * this to the power {@code p}, elementwise.
     *
     * @param p the exponent
     * @return the powers
     */
    public Tensor pow(double p) {
        return ops().powScalar(this, p);
    }

    /**
     * −this, elementwise.
     *
     * @return the negation
     */
    public Tensor neg() {
        return ops().neg(this);
    }

    /**
     * e to the power of each element.
     *
     * @return the exponentials
     */
    public Tensor exp() {
        return ops().exp(this);
    }

    /**
     * The natural logarithm of each element.
     *
     * @return the logarithms
     */
    public Tensor log() {
        return ops().log(this);
    }

    /**
     * The square root of each element.
     *
     * @return the square roots
     */
    public Tensor sqrt() {
        return ops().sqrt(this);
    }

    /**
     * 1 / √x for each element x.
     *
     * @return the reciprocal square roots
     */
    public Tensor rsqrt() {
        return ops().rsqrt(this);
    }

    /**
     * The absolute value of each element.
     *
     * @return the absolute values
     */
    public Tensor abs() {
        return ops().abs(this);
    }

    /**
     * x·σ(x) for each element x.
     *
     * @return the activations
     */
    public Tensor silu() {
        return ops().silu(this);
    }

    /**
     * σ(x) = 1 / (1 + e^−x) for each element x.
     *
     * @return the activations
     */
    public Tensor sigmoid() {
        return ops().sigmoid(this);
    }

    /**
     * The hyperbolic tangent of each element.
     *
     * @return the activations
     */
    public Tensor tanh() {
        return ops().tanh(this);
    }

    /**
     * max(x, 0) for each element x (NaN stays NaN).
     *
     * @return the activations
     */
    public Tensor relu() {
        return ops().relu(this);
    }

    /**
     * The exact (erf) GELU of each element.
     *
     * @return the activations
     */
    public Tensor gelu() {
        return ops().gelu(this);
    }

    /**
     * The matrix product [..., M, K] · [..., K, N] → [..., M, N] with broadcast batch dimensions; a 1-D operand is a
     * row or column vector (two give their dot product).
     *
     * @param o the right operand
     * @return the product
     * @throws IllegalArgumentException when the inner dimensions differ or the batch dimensions cannot be broadcast
     */
    public Tensor matmul(Tensor o) {
        return ops().matmul(this, o);
    }

    /**
     * The sum of all elements, as a scalar.
     *
     * @return a tensor of shape []
     */
    public Tensor sum() {
        return ops().sum(this);
    }

    /**
     * The sum along {@code axis}, which stays as size 1 when {@code keepDim}.
     *
     * @param axis the dimension to reduce (negative counts from the end)
     * @param keepDim whether to keep it as size 1
     * @return the sums
     */
    public Tensor sum(int axis, boolean keepDim) {
        return ops().sum(this, new int[] {axis}, keepDim);
    }

    /**
     * The mean of all elements, as a scalar.
     *
     * @return a tensor of shape []
     */
    public Tensor mean() {
        return ops().mean(this);
    }

    /**
     * The mean along {@code axis}, which stays as size 1 when {@code keepDim}.
     *
     * @param axis the dimension to reduce (negative counts from the end)
     * @param keepDim whether to keep it as size 1
     * @return the means
     */
    public Tensor mean(int axis, boolean keepDim) {
        return ops().mean(this, new int[] {axis}, keepDim);
    }

    /**
     * The maximum along {@code axis}, which stays as size 1 when {@code keepDim}.
     *
     * @param axis the dimension to reduce (negative counts from the end)
     * @param keepDim whether to keep it as size 1
     * @return the maxima
     */
    public Tensor max(int axis, boolean keepDim) {
        return ops().max(this, new int[] {axis}, keepDim);
    }

    /**
     * The index (i64) of the maximum along {@code axis}, which stays as size 1 when {@code keepDim}.
     *
     * @param axis the dimension to reduce (negative counts from the end)
     * @param keepDim whether to keep it as size 1
     * @return the indices
     */
    public Tensor argmax(int axis, boolean keepDim) {
        return ops().argmax(this, axis, keepDim);
    }

    /**
     * The softmax along {@code axis}.
     *
     * @param axis the dimension to normalise (negative counts from the end)
     * @return probabilities summing to 1 along {@code axis}
     */
    public Tensor softmax(int axis) {
        return ops().softmax(this, axis);
    }

    /**
     * The log of the softmax along {@code axis}, computed stably.
     *
     * @param axis the dimension to normalise (negative counts from the end)
     * @return log-probabilities
     */
    public Tensor logSoftmax(int axis) {
        return ops().logSoftmax(this, axis);
    }

    /**
     * The positions of {@code axis} that the integer tensor {@code index} lists, in its order.
     *
     * @param axis the dimension to index (negative counts from the end)
     * @param index a 1-D i32 or i64 tensor of positions in [0, size(axis))
     * @return the gathered tensor, {@code axis} resized to the number of indices
     * @throws IndexOutOfBoundsException when an index is out of range (CPU)
     */
    public Tensor indexSelect(int axis, Tensor index) {
        return ops().indexSelect(this, axis, index);
    }

    // ---------------------------------------------------------------- data access (host copies; not for hot loops)

    /**
     * Row-major flat index → storage element index.
     *
     * @param flat the row-major position, in [0, numel)
     * @return the element's index in the storage
     */
    public long storageIndex(long flat) {
        long idx = offset;
        for (int i = shape.length - 1; i >= 0; i--) {
            int s = shape[i];
            if (s == 0) {
                return offset;
            }
            idx += (flat % s) * strides[i];
            flat /= s;
        }
        return idx;
    }

    private Tensor onHost(String op) {
        checkAlive(op);
        return device().kind() == Device.Kind.CPU ? this : to(Device.CPU);
    }

    /**
     * The single value of a one-element tensor.
     *
     * @return the value
     * @throws IllegalArgumentException when the tensor holds more or fewer than one element
     */
    public double item() {
        if (numel() != 1) {
            throw new IllegalArgumentException("item: expected a tensor of one element, got " + describe());
        }
        Tensor h = onHost("item");
        return Elements.get(h.hostSegment("item"), dtype, h.offset);
    }

    /**
     * Element at the given indices, as a double.
     *
     * @param idx one index per dimension
     * @return the value
     * @throws IllegalArgumentException when the number of indices differs from the rank
     * @throws IndexOutOfBoundsException when an index is out of range
     */
    public double get(int... idx) {
        if (idx.length != shape.length) {
            throw new IllegalArgumentException(
                    "get: expected " + shape.length + " indices for " + describe() + ", got " + idx.length);
        }
        long e = offset;
        for (int i = 0; i < idx.length; i++) {
            if (idx[i] < 0 || idx[i] >= shape[i]) {
                throw new IndexOutOfBoundsException("get: index " + idx[i] + " out of range [0, " + shape[i]
                        + ") in dimension " + i + " of " + describe());
            }
            e += idx[i] * strides[i];
        }
        Tensor h = onHost("get");
        return Elements.get(h.hostSegment("get"), dtype, e);
    }

    /**
     * Writes the element at row-major position {@code flat} (CPU tensors).
     *
     * @param flat the row-major position, in [0, numel)
     * @param value the value, rounded to the dtype
     * @throws IllegalStateException when the tensor is not on the CPU or was freed
     */
    public void setFlat(long flat, double value) {
        Elements.set(hostSegment("setFlat"), dtype, storageIndex(flat), value);
    }

    /**
     * The element at row-major position {@code flat} (CPU tensors).
     *
     * @param flat the row-major position, in [0, numel)
     * @return the value
     * @throws IllegalStateException when the tensor is not on the CPU or was freed
     */
    public double getFlat(long flat) {
        return Elements.get(hostSegment("getFlat"), dtype, storageIndex(flat));
    }

    /**
     * The elements in row-major order, as doubles (copied to the host).
     *
     * @return a new array of {@link #numel()} values
     */
    public double[] toDoubleArray() {
        Tensor h = onHost("toDoubleArray").to(DType.F64).contiguous();
        return h.hostSegment("toDoubleArray")
                .asSlice(h.offset * 8, h.numel() * 8)
                .toArray(ValueLayout.JAVA_DOUBLE);
    }

    /**
     * The elements in row-major order, as floats (copied to the host).
     *
     * @return a new array of {@link #numel()} values
     */
    public float[] toFloatArray() {
        Tensor h = onHost("toFloatArray").to(DType.F32).contiguous();
        return h.hostSegment("toFloatArray")
                .asSlice(h.offset * 4, h.numel() * 4)
                .toArray(ValueLayout.JAVA_FLOAT);
    }

    /**
     * The elements in row-major order, as longs (copied to the host).
     *
     * @return a new array of {@link #numel()} values
     */
    public long[] toLongArray() {
        Tensor h = onHost("toLongArray").to(DType.I64).contiguous();
        return h.hostSegment("toLongArray").asSlice(h.offset * 8, h.numel() * 8).toArray(ValueLayout.JAVA_LONG);
    }

    /**
     * The elements in row-major order, as ints (copied to the host).
     *
     * @return a new array of {@link #numel()} values
     */
    public int[] toIntArray() {
        Tensor h = onHost("toIntArray").to(DType.I32).contiguous();
        return h.hostSegment("toIntArray").asSlice(h.offset * 4, h.numel() * 4).toArray(ValueLayout.JAVA_INT);
    }

    /**
     * Copies {@code src} (same shape, any dtype/device) into this tensor's memory, outside the graph.
     *
     * @param src the values to copy
     * @return this tensor
     * @throws IllegalArgumentException when the shapes differ
     */
    public Tensor copyFrom(Tensor src) {
        if (!sameShape(src)) {
            throw new IllegalArgumentException(
                    "copyFrom: shape " + Shape.str(src.shape) + " does not match " + describe());
        }
        ops().copyInto(src, this);
        return this;
    }

    /** Frees this tensor's storage now (views of it become unusable). */
    @Override
    public void close() {
        storage.release();
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("Tensor(").append(describe());
        if (!storage.isReleased() && numel() <= 16 && device().kind() == Device.Kind.CPU) {
            sb.append(", ").append(Arrays.toString(toDoubleArray()));
        }
        if (gradFn != null) {
            sb.append(", grad_fn=").append(gradFn.op());
        }
        return sb.append(')').toString();
    }
}
