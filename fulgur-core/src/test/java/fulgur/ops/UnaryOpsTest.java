package fulgur.ops;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.GradMode;
import fulgur.backend.UnaryOp;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import fulgur.testing.Ref;
import fulgur.testing.Ref.Layout;
import fulgur.testing.Ref.Nd;
import fulgur.testing.ScopedTest;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Every unary op, forward and backward, against f64 references on awkward sizes and non-contiguous layouts. */
class UnaryOpsTest extends ScopedTest {

    /** Sizes around the vector width (8 or 16 lanes) and the 16K-element chunking, and a few multi-dim shapes. */
    static final List<int[]> SHAPES = List.of(
            new int[] {},
            new int[] {1},
            new int[] {3},
            new int[] {7},
            new int[] {9},
            new int[] {33},
            new int[] {1013},
            new int[] {2, 3, 5},
            new int[] {7, 9},
            new int[] {4, 1, 17});

    /** The parameter each op is tested with (the scalar of ADD/MUL_SCALAR, the exponent of POW). */
    static final double[] POW_EXPONENTS = {2, 3, 0.5, -1.5, 0, 1};

    /** The op through the public API. */
    static Tensor apply(UnaryOp op, Tensor x, double p) {
        return switch (op) {
            case NEG -> Elementwise.neg(x);
            case EXP -> Elementwise.exp(x);
            case LOG -> Elementwise.log(x);
            case SQRT -> Elementwise.sqrt(x);
            case RSQRT -> Elementwise.rsqrt(x);
            case ABS -> Elementwise.abs(x);
            case SILU -> Activations.silu(x);
            case SIGMOID -> Activations.sigmoid(x);
            case TANH -> Activations.tanh(x);
            case GELU -> Activations.gelu(x);
            case GELU_TANH -> Activations.geluTanh(x);
            case RELU -> Activations.relu(x);
            case SOFTPLUS -> Activations.softplus(x);
            case LOGSIGMOID -> Activations.logSigmoid(x);
            case SQUARE -> Elementwise.square(x);
            case RECIPROCAL -> Elementwise.reciprocal(x);
            case SIN -> Elementwise.sin(x);
            case COS -> Elementwise.cos(x);
            case POW -> Elementwise.powScalar(x, p);
            case ADD_SCALAR -> Elementwise.addScalar(x, p);
            case MUL_SCALAR -> Elementwise.mulScalar(x, p);
        };
    }

    /** The mathematical definition, in double precision. */
    static double reference(UnaryOp op, double x, double p) {
        return switch (op) {
            case NEG -> -x;
            case EXP -> Math.exp(x);
            case LOG -> Math.log(x);
            case SQRT -> Math.sqrt(x);
            case RSQRT -> 1 / Math.sqrt(x);
            case ABS -> Math.abs(x);
            case SILU -> x / (1 + Math.exp(-x));
            case SIGMOID -> 1 / (1 + Math.exp(-x));
            case TANH -> Math.tanh(x);
            case GELU -> 0.5 * x * (1 + Ref.erf(x / Math.sqrt(2)));
            case GELU_TANH -> 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
            case RELU -> Math.max(x, 0);
            case SOFTPLUS -> x > 30 ? x : Math.log1p(Math.exp(x));
            case LOGSIGMOID -> x < -30 ? x : -Math.log1p(Math.exp(-x));
            case SQUARE -> x * x;
            case RECIPROCAL -> 1 / x;
            case SIN -> Math.sin(x);
            case COS -> Math.cos(x);
            case POW -> Math.pow(x, p);
            case ADD_SCALAR -> x + p;
            case MUL_SCALAR -> x * p;
        };
    }

    /** Inputs inside the op's domain and away from its singularities. */
    static double[] inputs(UnaryOp op, double p, long seed, int n) {
        double[] v = Ref.normal(seed, n, 3);
        for (int i = 0; i < n; i++) {
            v[i] = switch (op) {
                case LOG, SQRT, RSQRT -> Math.abs(v[i]) + 0.05;
                case POW -> p == Math.rint(p) && p >= 0 ? v[i] : Math.abs(v[i]) + 0.05;
                case RECIPROCAL -> Math.copySign(Math.abs(v[i]) + 0.1, v[i]);
                case ABS, RELU -> Math.abs(v[i]) < 1e-3 ? v[i] + 0.01 : v[i]; // keep the kink out of finite differences
                default -> v[i];
            };
        }
        return v;
    }

    static double[] params(UnaryOp op) {
        return switch (op) {
            case POW -> POW_EXPONENTS;
            case ADD_SCALAR -> new double[] {0.1, -2.5};
            case MUL_SCALAR -> new double[] {0.1, -3, 0};
            default -> new double[] {0};
        };
    }

    @ParameterizedTest
    @EnumSource(UnaryOp.class)
    void forwardMatchesReferenceInF32AndF64(UnaryOp op) {
        long seed = 100 + op.ordinal();
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            for (double p : params(op)) {
                for (int[] shape : SHAPES) {
                    for (Layout layout : Layout.values()) {
                        double[] x = Ref.round(dt, inputs(op, p, seed++, (int) Ref.numel(shape)));
                        Nd expected = Ref.map(new Nd(x, shape), v -> reference(op, v, p));
                        Tensor t = Ref.make(dt, x, shape, layout);
                        Tensor y = apply(op, t, p);
                        assertThat(y.dtype()).isEqualTo(dt);
                        Ref.assertClose(op + "(" + p + ") " + dt + " " + layout, y, expected, dt);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(UnaryOp.class)
    void forwardOnExpandedStrideZeroInput(UnaryOp op) {
        double p = params(op)[0];
        double[] x = inputs(op, p, 7, 5);
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            double[] xr = Ref.round(dt, x);
            Tensor t = Tensor.of(dt, xr, 5, 1).expand(5, 11).transpose(0, 1); // [11, 5] with strides (0, 1)
            Nd expected =
                    Ref.map(Ref.broadcastTo(new Nd(xr, new int[] {1, 5}), new int[] {11, 5}), v -> reference(op, v, p));
            Ref.assertClose(op + " expanded " + dt, apply(op, t, p), expected, dt);
        }
    }

    @ParameterizedTest
    @EnumSource(value = UnaryOp.class, names = "GELU", mode = EnumSource.Mode.EXCLUDE)
    void forwardAcrossParallelChunks(UnaryOp op) {
        int n = 2 * 16384 + 4096 + 13;
        double p = params(op)[0];
        double[] x = Ref.round(DType.F32, inputs(op, p, 11, n));
        Nd expected = Ref.map(new Nd(x, new int[] {n}), v -> reference(op, v, p));
        Ref.assertClose(op + " large f32", apply(op, Tensor.of(DType.F32, x, n), p), expected, DType.F32);
    }

    @ParameterizedTest
    @EnumSource(UnaryOp.class)
    void bf16AndF16InputsComputeInF32AndRoundOnce(UnaryOp op) {
        double p = params(op)[0];
        for (DType dt : new DType[] {DType.BF16, DType.F16}) {
            for (int[] shape : List.of(new int[] {33}, new int[] {3, 7})) {
                double[] x = Ref.round(dt, inputs(op, p, 21, (int) Ref.numel(shape)));
                Nd expected = Ref.round(dt, Ref.map(new Nd(x, shape), v -> reference(op, v, p)));
                Tensor y = apply(op, Ref.make(dt, x, shape, Layout.TRANSPOSED), p);
                assertThat(y.dtype()).isEqualTo(dt);
                Ref.assertClose(op + " " + dt, y, expected, dt);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(UnaryOp.class)
    void nanPropagatesInVectorLanesAndTails(UnaryOp op) {
        // NaN at every position of a length that has both full vectors and a scalar tail
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            int n = 37;
            double[] x = inputs(op, params(op)[0], 5, n);
            for (int k = 0; k < n; k += 4) {
                x[k] = Double.NaN;
            }
            Tensor y = apply(op, Tensor.of(dt, Ref.round(dt, x), n), params(op)[0]);
            for (int k = 0; k < n; k++) {
                double expected = reference(op, x[k], params(op)[0]);
                if (Double.isNaN(expected)) {
                    assertThat(y.getFlat(k)).as("%s %s(NaN) at %d", dt, op, k).isNaN();
                }
            }
        }
    }

    @Test
    void reluGradientIsZeroAtNaNInEveryLane() {
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            int n = 37;
            double[] x = Ref.normal(9, n, 1);
            for (int k = 0; k < n; k += 3) {
                x[k] = Double.NaN;
            }
            Tensor t = Tensor.of(dt, x, n).requiresGrad(true);
            Activations.relu(t).sum().backward();
            for (int k = 0; k < n; k++) {
                assertThat(t.grad().getFlat(k))
                        .as("%s relu'(%s) at %d", dt, x[k], k)
                        .isEqualTo(x[k] > 0 ? 1.0 : 0.0);
            }
        }
    }

    @Test
    void integerTensorsKeepTheirDtype() {
        for (DType dt : new DType[] {DType.I32, DType.I64}) {
            double[] v = {-7, 0, 3, 12, -1};
            Tensor t = Tensor.of(dt, v, 5);
            assertThat(Elementwise.neg(t).dtype()).isEqualTo(dt);
            assertThat(Elementwise.neg(t).toLongArray()).containsExactly(7, 0, -3, -12, 1);
            assertThat(Elementwise.abs(t).toLongArray()).containsExactly(7, 0, 3, 12, 1);
            assertThat(Elementwise.square(t).toLongArray()).containsExactly(49, 0, 9, 144, 1);
            assertThat(Elementwise.addScalar(t, 2).toLongArray()).containsExactly(-5, 2, 5, 14, 1);
        }
    }

    /** d/dx of the reference by central differences in f64: an oracle that shares no formula with the runtime. */
    static double referenceDerivative(UnaryOp op, double x, double p) {
        double h = 1e-5 * Math.max(1, Math.abs(x));
        return (reference(op, x + h, p) - reference(op, x - h, p)) / (2 * h);
    }

    @ParameterizedTest
    @EnumSource(UnaryOp.class)
    void backwardMatchesReferenceDerivativeInF32AndF64(UnaryOp op) {
        long seed = 300 + op.ordinal();
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            for (double p : params(op)) {
                for (int[] shape : List.of(new int[] {1013}, new int[] {7, 9}, new int[] {3})) {
                    for (Layout layout : new Layout[] {Layout.CONTIGUOUS, Layout.TRANSPOSED}) {
                        checkBackward(op, p, dt, shape, layout, seed++);
                    }
                }
            }
        }
        if (op != UnaryOp.GELU) { // the erf oracle is slow on large inputs
            checkBackward(op, params(op)[0], DType.F32, new int[] {2 * 16384 + 11}, Layout.CONTIGUOUS, seed);
        }
    }

    private static void checkBackward(UnaryOp op, double p, DType dt, int[] shape, Layout layout, long seed) {
        int n = (int) Ref.numel(shape);
        double[] x = Ref.round(dt, inputs(op, p, seed, n));
        double[] w = Ref.round(dt, Ref.normal(seed + 7, n, 1));
        Tensor xt = Ref.make(dt, x, shape, layout).requiresGrad(true);
        Tensor loss = apply(op, xt, p).mul(Tensor.of(dt, w, shape)).sum();
        loss.backward();
        Nd expected = new Nd(new double[n], shape);
        for (int i = 0; i < n; i++) {
            expected.v()[i] = w[i] * referenceDerivative(op, x[i], p);
        }
        assertThat(xt.grad().dtype()).isEqualTo(dt);
        // the finite-difference oracle is good to ~1e-9 relative
        double tol = dt == DType.F64 ? 1e-7 : 1e-5;
        Ref.assertClose(
                op + "' (" + p + ") " + dt + " " + layout + " " + java.util.Arrays.toString(shape),
                xt.grad(),
                expected,
                tol,
                tol);
    }

    @Test
    void noGradRecordsNothing() {
        Tensor x = Tensor.of(new double[] {1, 2, 3}, 3).requiresGrad(true);
        Tensor y;
        try (var g = GradMode.noGrad()) {
            y = x.exp().mul(2.0).add(x);
        }
        assertThat(y.requiresGrad()).isFalse();
        assertThat(y.gradFn()).isNull();
        assertThat(GradMode.isEnabled()).isTrue();
        assertThat(x.exp().gradFn()).isNotNull();
    }
}
