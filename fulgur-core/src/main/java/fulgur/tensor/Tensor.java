package fulgur.tensor;

import java.lang.foreign.MemorySegment;
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
            throw new IllegalStateException("no fulgur.tensor.TensorMethods service on the class path (fulgur-core's ops layer is missing)");
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

    /** A view of existing storage (no copy). For backends and view ops. */
    public static Tensor view(Storage storage, DType dtype, int[] shape, long[] strides, long offset) {
        if (shape.length != strides.length) {
            throw new IllegalArgumentException("view: shape " + Shape.str(shape) + " and strides " + Arrays.toString(strides) + " differ in rank");
        }
        return new Tensor(storage, dtype, shape.clone(), strides.clone(), offset);
    }

    /** Wraps freshly allocated storage as a contiguous tensor owned by the current scope. */
    public static Tensor wrap(Storage storage, DType dtype, int[] shape) {
        Scope.current().register(storage);
        return new Tensor(storage, dtype, shape.clone(), Shape.contiguousStrides(shape), 0);
    }

    /** A CPU tensor of {@code shape} with uninitialised contents, owned by the current scope. */
    public static Tensor empty(DType dtype, int... shape) {
        return empty(dtype, Device.CPU, shape);
    }

    /** A tensor of {@code shape} on {@code device} with uninitialised contents, owned by the current scope. */
    public static Tensor empty(DType dtype, Device device, int... shape) {
        Shape.check("empty", shape);
        return ops().empty(dtype, device, shape);
    }

    /** A CPU tensor of zeros. */
    public static Tensor zeros(DType dtype, int... shape) {
        return full(dtype, 0, shape);
    }

    /** A tensor of zeros on {@code device}. */
    public static Tensor zeros(DType dtype, Device device, int... shape) {
        return full(dtype, device, 0, shape);
    }

    /** An f32 CPU tensor of zeros. */
    public static Tensor zeros(int... shape) {
        return zeros(DType.F32, shape);
    }

    /** An f32 CPU tensor of ones. */
    public static Tensor ones(int... shape) {
        return full(DType.F32, 1, shape);
    }

    /** A CPU tensor with every element {@code value} (rounded to {@code dtype}). */
    public static Tensor full(DType dtype, double value, int... shape) {
        return full(dtype, Device.CPU, value, shape);
    }

    /** A tensor on {@code device} with every element {@code value} (rounded to {@code dtype}). */
    public static Tensor full(DType dtype, Device device, double value, int... shape) {
        Tensor t = empty(dtype, device, shape);
        ops().fill(t, value);
        return t;
    }

    /** An f32 tensor of shape [] holding {@code value}. */
    public static Tensor scalar(double value) {
        return full(DType.F32, value);
    }

    /** A tensor of shape [] holding {@code value} in {@code dtype}. */
    public static Tensor scalar(DType dtype, double value) {
        return full(dtype, value);
    }

    /** An f32 CPU tensor holding a copy of {@code data} in row-major order; no shape means a vector of its length. */
    public static Tensor of(float[] data, int... shape) {
        Tensor t = empty(DType.F32, checkLength("of", data.length, shape));
        MemorySegment.copy(data, 0, t.hostSegment("of"), java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, data.length);
        return t;
    }

    /** An f64 CPU tensor holding a copy of {@code data} in row-major order; no shape means a vector of its length. */
    public static Tensor of(double[] data, int... shape) {
        Tensor t = empty(DType.F64, checkLength("of", data.length, shape));
        MemorySegment.copy(data, 0, t.hostSegment("of"), java.lang.foreign.ValueLayout.JAVA_DOUBLE, 0, data.length);
        return t;
    }

    /** An i32 CPU tensor (token ids, targets) holding a copy of {@code data} in row-major order. */
    public static Tensor ofInts(int[] data, int... shape) {
        Tensor t = empty(DType.I32, checkLength("ofInts", data.length, shape));
        MemorySegment.copy(data, 0, t.hostSegment("ofInts"), java.lang.foreign.ValueLayout.JAVA_INT, 0, data.length);
        return t;
    }

    /** An i64 CPU tensor (indices) holding a copy of {@code data} in row-major order. */
    public static Tensor ofLongs(long[] data, int... shape) {
        Tensor t = empty(DType.I64, checkLength("ofLongs", data.length, shape));
        MemorySegment.copy(data, 0, t.hostSegment("ofLongs"), java.lang.foreign.ValueLayout.JAVA_LONG, 0, data.length);
        return t;
    }

    /** Values of {@code data} converted to {@code dtype}. */
    public static Tensor of(DType dtype, double[] data, int... shape) {
        Tensor t = empty(dtype, checkLength("of", data.length, shape));
        MemorySegment seg = t.hostSegment("of");
        for (int i = 0; i < data.length; i++) {
            Elements.set(seg, dtype, i, data[i]);
        }
        return t;
    }

    /** 0, 1, ..., n-1 as i64. */
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
            throw new IllegalArgumentException(op + ": " + length + " values do not fill shape " + Shape.str(s) + " (" + Shape.numel(s) + " elements)");
        }
        return s;
    }

    // ---------------------------------------------------------------- metadata

    /** The element type. */
    public DType dtype() {
        return dtype;
    }

    /** The device whose memory holds the elements. */
    public Device device() {
        return storage.device();
    }

    /** The memory this tensor is a view of (shared with every other view of it). */
    public Storage storage() {
        return storage;
    }

    /** The sizes of the dimensions (a copy). */
    public int[] shape() {
        return shape.clone();
    }

    /** Size of dimension {@code axis} (negative counts from the end). */
    public int size(int axis) {
        return shape[Shape.axis("size", axis, shape.length)];
    }

    /** The number of dimensions (0 for a scalar). */
    public int ndim() {
        return shape.length;
    }

    /** The number of elements: the product of the shape. */
    public long numel() {
        return Shape.numel(shape);
    }

    /** The distance in elements between neighbours along each dimension (a copy). */
    public long[] strides() {
        return strides.clone();
    }

    /** The stride of dimension {@code axis} (negative counts from the end). */
    public long stride(int axis) {
        return strides[Shape.axis("stride", axis, shape.length)];
    }

    /** The index of the first element in the storage, in elements. */
    public long offset() {
        return offset;
    }

    /** Whether the elements lie in row-major order without gaps (dimensions of size 1 ignored). */
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

    /** Whether {@code o} has this tensor's shape. */
    public boolean sameShape(Tensor o) {
        return Arrays.equals(shape, o.shape);
    }

    /** The name given with {@link #setName}, or null; error messages and {@link #describe()} show it. */
    public String name() {
        return name;
    }

    /** Names this tensor for error messages and {@link #describe()}; returns it. */
    public Tensor setName(String name) {
        this.name = name;
        return this;
    }

    /** The host memory of this tensor's storage (CPU only), checking it was not freed. */
    public MemorySegment hostSegment(String op) {
        if (!(storage instanceof HostStorage hs)) {
            throw new IllegalStateException(op + ": tensor is on " + device() + ", expected a CPU tensor");
        }
        return hs.segment(op);
    }

    /** Throws if the storage was freed. */
    public Tensor checkAlive(String op) {
        if (storage.isReleased()) {
            throw new IllegalStateException(op + ": use of a freed tensor " + describe() + " (its scope was closed or it was released;"
                    + " a backward that frees activations releases each after its last use)");
        }
        return this;
    }

    /** Name, dtype, shape and device in one short string, e.g. {@code "q:f32[2, 8, 64]@cpu"}. */
    public String describe() {
        return (name != null ? name + ":" : "") + dtype + Shape.str(shape) + "@" + device();
    }

    // ---------------------------------------------------------------- autograd

    /** Whether gradients flow to or through this tensor. */
    public boolean requiresGrad() {
        return requiresGrad;
    }

    /** Marks a leaf tensor as needing gradients. */
    public Tensor requiresGrad(boolean value) {
        if (value && !dtype.isFloating()) {
            throw new IllegalArgumentException("requiresGrad: only floating tensors can require gradients, got " + describe());
        }
        this.requiresGrad = value;
        return this;
    }

    /** The gradient accumulated by {@link #backward()} (leaf tensors), or null. */
    public Tensor grad() {
        return grad;
    }

    /** Replaces the accumulated gradient (optimizers and the autograd engine use it). */
    public void setGrad(Tensor g) {
        this.grad = g;
    }

    /** Drops the accumulated gradient (the next backward allocates a fresh one). */
    public void zeroGrad() {
        this.grad = null;
    }

    /** The op that produced this tensor in the graph, or null for a leaf. */
    public GradFn gradFn() {
        return gradFn;
    }

    /** Attaches the node that produced this tensor (called by ops). */
    public Tensor withGradFn(GradFn node) {
        this.gradFn = node;
        this.requiresGrad = true;
        return this;
    }

    /** Whether this tensor was not produced by a recorded op (inputs and parameters). */
    public boolean isLeaf() {
        return gradFn == null;
    }

    /** Reverse-mode differentiation from this scalar; leaf gradients accumulate into {@link #grad()}. */
    public void backward() {
        ops().backward(this, null);
    }

    /** Reverse-mode differentiation from this tensor with {@code seed} as its gradient (its shape). */
    public void backward(Tensor seed) {
        ops().backward(this, seed);
    }

    /** The same data, cut from the graph. */
    public Tensor detach() {
        return new Tensor(storage, dtype, shape, strides, offset);
    }

    // ---------------------------------------------------------------- views

    /** The same elements in a new shape; -1 infers one dimension. A view when the strides allow, else a copy. */
    public Tensor reshape(int... newShape) {
        return ops().reshape(this, newShape);
    }

    /** A view with the dimensions reordered: dimension i of the result is dimension {@code axes[i]} of this. */
    public Tensor permute(int... axes) {
        return ops().permute(this, axes);
    }

    /** A view with dimensions {@code a} and {@code b} swapped. */
    public Tensor transpose(int a, int b) {
        return ops().transpose(this, a, b);
    }

    /** Transpose of the last two dimensions. */
    public Tensor mT() {
        return ops().transpose(this, -2, -1);
    }

    /** A view of {@code length} positions of {@code axis} from {@code start}. */
    public Tensor narrow(int axis, int start, int length) {
        return ops().narrow(this, axis, start, length);
    }

    /** A view of position {@code index} of {@code axis}, that dimension removed. */
    public Tensor select(int axis, int index) {
        return ops().select(this, axis, index);
    }

    /** A view that broadcasts size-1 dimensions (and new leading ones) to {@code newShape}; -1 keeps a dimension. */
    public Tensor expand(int... newShape) {
        return ops().expand(this, newShape);
    }

    /** A view with a new dimension of size 1 at {@code axis}. */
    public Tensor unsqueeze(int axis) {
        return ops().unsqueeze(this, axis);
    }

    /** A view without dimension {@code axis}, which must have size 1. */
    public Tensor squeeze(int axis) {
        return ops().squeeze(this, axis);
    }

    /** The elements as one dimension. */
    public Tensor flatten() {
        return reshape(Shape.toInt("flatten", numel()));
    }

    /** This tensor when contiguous, else a contiguous copy (in the graph). */
    public Tensor contiguous() {
        return ops().contiguous(this);
    }

    /** This tensor in {@code target} (itself when it already is); gradients convert back. */
    public Tensor to(DType target) {
        return ops().cast(this, target);
    }

    /** This tensor on {@code target} (itself when it already is); gradients transfer back. */
    public Tensor to(Device target) {
        return ops().toDevice(this, target);
    }

    /** A contiguous copy (always copies), in the graph. */
    public Tensor copy() {
        return ops().copy(this);
    }

    // ---------------------------------------------------------------- math (see the ops classes)

    /** this + o, elementwise with broadcasting. */
    public Tensor add(Tensor o) {
        return ops().add(this, o);
    }

    /** this − o, elementwise with broadcasting. */
    public Tensor sub(Tensor o) {
        return ops().sub(this, o);
    }

    /** this · o, elementwise with broadcasting. */
    public Tensor mul(Tensor o) {
        return ops().mul(this, o);
    }

    /** this / o, elementwise with broadcasting. */
    public Tensor div(Tensor o) {
        return ops().div(this, o);
    }

    /** this + s, elementwise. */
    public Tensor add(double s) {
        return ops().addScalar(this, s);
    }

    /** this · s, elementwise. */
    public Tensor mul(double s) {
        return ops().mulScalar(this, s);
    }

    /** this to the power {@code p}, elementwise. */
    public Tensor pow(double p) {
        return ops().powScalar(this, p);
    }

    /** −this, elementwise. */
    public Tensor neg() {
        return ops().neg(this);
    }

    /** e to the power of each element. */
    public Tensor exp() {
        return ops().exp(this);
    }

    /** The natural logarithm of each element. */
    public Tensor log() {
        return ops().log(this);
    }

    /** The square root of each element. */
    public Tensor sqrt() {
        return ops().sqrt(this);
    }

    /** 1 / √x for each element x. */
    public Tensor rsqrt() {
        return ops().rsqrt(this);
    }

    /** The absolute value of each element. */
    public Tensor abs() {
        return ops().abs(this);
    }

    /** x·σ(x) for each element x. */
    public Tensor silu() {
        return ops().silu(this);
    }

    /** σ(x) = 1 / (1 + e^−x) for each element x. */
    public Tensor sigmoid() {
        return ops().sigmoid(this);
    }

    /** The hyperbolic tangent of each element. */
    public Tensor tanh() {
        return ops().tanh(this);
    }

    /** max(x, 0) for each element x (NaN stays NaN). */
    public Tensor relu() {
        return ops().relu(this);
    }

    /** The exact (erf) GELU of each element. */
    public Tensor gelu() {
        return ops().gelu(this);
    }

    /**
     * The matrix product [..., M, K] · [..., K, N] → [..., M, N] with broadcast batch dimensions; a 1-D operand is a
     * row or column vector (two give their dot product).
     */
    public Tensor matmul(Tensor o) {
        return ops().matmul(this, o);
    }

    /** The sum of all elements, as a scalar. */
    public Tensor sum() {
        return ops().sum(this);
    }

    /** The sum along {@code axis}, which stays as size 1 when {@code keepDim}. */
    public Tensor sum(int axis, boolean keepDim) {
        return ops().sum(this, new int[] {axis}, keepDim);
    }

    /** The mean of all elements, as a scalar. */
    public Tensor mean() {
        return ops().mean(this);
    }

    /** The mean along {@code axis}, which stays as size 1 when {@code keepDim}. */
    public Tensor mean(int axis, boolean keepDim) {
        return ops().mean(this, new int[] {axis}, keepDim);
    }

    /** The maximum along {@code axis}, which stays as size 1 when {@code keepDim}. */
    public Tensor max(int axis, boolean keepDim) {
        return ops().max(this, new int[] {axis}, keepDim);
    }

    /** The index (i64) of the maximum along {@code axis}, which stays as size 1 when {@code keepDim}. */
    public Tensor argmax(int axis, boolean keepDim) {
        return ops().argmax(this, axis, keepDim);
    }

    /** The softmax along {@code axis}. */
    public Tensor softmax(int axis) {
        return ops().softmax(this, axis);
    }

    /** The log of the softmax along {@code axis}, computed stably. */
    public Tensor logSoftmax(int axis) {
        return ops().logSoftmax(this, axis);
    }

    /** The positions of {@code axis} that the integer tensor {@code index} lists, in its order. */
    public Tensor indexSelect(int axis, Tensor index) {
        return ops().indexSelect(this, axis, index);
    }

    // ---------------------------------------------------------------- data access (host copies; not for hot loops)

    /** Row-major flat index → storage element index. */
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

    /** The single value of a one-element tensor. */
    public double item() {
        if (numel() != 1) {
            throw new IllegalArgumentException("item: expected a tensor of one element, got " + describe());
        }
        Tensor h = onHost("item");
        return Elements.get(h.hostSegment("item"), dtype, h.offset);
    }

    /** Element at the given indices, as a double. */
    public double get(int... idx) {
        if (idx.length != shape.length) {
            throw new IllegalArgumentException("get: expected " + shape.length + " indices for " + describe() + ", got " + idx.length);
        }
        long e = offset;
        for (int i = 0; i < idx.length; i++) {
            if (idx[i] < 0 || idx[i] >= shape[i]) {
                throw new IndexOutOfBoundsException("get: index " + idx[i] + " out of range [0, " + shape[i] + ") in dimension " + i + " of " + describe());
            }
            e += idx[i] * strides[i];
        }
        Tensor h = onHost("get");
        return Elements.get(h.hostSegment("get"), dtype, e);
    }

    /** Writes the element at row-major position {@code flat} (CPU tensors). */
    public void setFlat(long flat, double value) {
        Elements.set(hostSegment("setFlat"), dtype, storageIndex(flat), value);
    }

    /** The element at row-major position {@code flat} (CPU tensors). */
    public double getFlat(long flat) {
        return Elements.get(hostSegment("getFlat"), dtype, storageIndex(flat));
    }

    /** The elements in row-major order, as doubles (copied to the host). */
    public double[] toDoubleArray() {
        Tensor h = onHost("toDoubleArray").to(DType.F64).contiguous();
        return h.hostSegment("toDoubleArray").asSlice(h.offset * 8, h.numel() * 8).toArray(java.lang.foreign.ValueLayout.JAVA_DOUBLE);
    }

    /** The elements in row-major order, as floats (copied to the host). */
    public float[] toFloatArray() {
        Tensor h = onHost("toFloatArray").to(DType.F32).contiguous();
        return h.hostSegment("toFloatArray").asSlice(h.offset * 4, h.numel() * 4).toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT);
    }

    /** The elements in row-major order, as longs (copied to the host). */
    public long[] toLongArray() {
        Tensor h = onHost("toLongArray").to(DType.I64).contiguous();
        return h.hostSegment("toLongArray").asSlice(h.offset * 8, h.numel() * 8).toArray(java.lang.foreign.ValueLayout.JAVA_LONG);
    }

    /** The elements in row-major order, as ints (copied to the host). */
    public int[] toIntArray() {
        Tensor h = onHost("toIntArray").to(DType.I32).contiguous();
        return h.hostSegment("toIntArray").asSlice(h.offset * 4, h.numel() * 4).toArray(java.lang.foreign.ValueLayout.JAVA_INT);
    }

    /** Copies {@code src} (same shape, any dtype/device) into this tensor's memory, outside the graph. */
    public Tensor copyFrom(Tensor src) {
        if (!sameShape(src)) {
            throw new IllegalArgumentException("copyFrom: shape " + Shape.str(src.shape) + " does not match " + describe());
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
