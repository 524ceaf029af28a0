package fulgur.ops;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.backend.BinaryOp;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import fulgur.testing.Ref;
import fulgur.testing.Ref.Layout;
import fulgur.testing.Ref.Nd;
import fulgur.testing.ScopedTest;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Binary ops with broadcasting, every operand layout, dtype promotion and the comparisons. */
class BinaryOpsTest extends ScopedTest {

    /** Shape pairs: equal, trailing/leading broadcast, both-sided broadcast, scalars, sizes around the vector width. */
    static final List<int[][]> PAIRS = List.of(
            new int[][] {{1013}, {1013}},
            new int[][] {{7, 9}, {7, 9}},
            new int[][] {{3, 1, 5}, {4, 1}},
            new int[][] {{4, 1}, {3, 1, 5}},
            new int[][] {{}, {2, 3}},
            new int[][] {{2, 3}, {}},
            new int[][] {{}, {}},
            new int[][] {{5}, {2, 3, 5}},
            new int[][] {{2, 3, 33}, {33}},
            new int[][] {{1}, {33}},
            new int[][] {{33, 1}, {1, 9}},
            new int[][] {{2, 1, 9}, {1, 3, 1}},
            new int[][] {{3}, {1}},
            new int[][] {{2, 17, 3}, {2, 1, 3}});

    static Tensor apply(BinaryOp op, Tensor a, Tensor b) {
        return switch (op) {
            case ADD -> Elementwise.add(a, b);
            case SUB -> Elementwise.sub(a, b);
            case MUL -> Elementwise.mul(a, b);
            case DIV -> Elementwise.div(a, b);
            case POW -> Elementwise.pow(a, b);
            case MAXIMUM -> Elementwise.maximum(a, b);
            case MINIMUM -> Elementwise.minimum(a, b);
            default -> Elementwise.compare(op, a, b);
        };
    }

    static double reference(BinaryOp op, double a, double b) {
        return switch (op) {
            case ADD -> a + b;
            case SUB -> a - b;
            case MUL -> a * b;
            case DIV -> a / b;
            case POW -> Math.pow(a, b);
            case MAXIMUM -> a >= b ? a : b;
            case MINIMUM -> a <= b ? a : b;
            case EQ -> a == b ? 1 : 0;
            case NE -> a != b ? 1 : 0;
            case LT -> a < b ? 1 : 0;
            case LE -> a <= b ? 1 : 0;
            case GT -> a > b ? 1 : 0;
            case GE -> a >= b ? 1 : 0;
        };
    }

    /** Operands in the op's domain; small integers (with ties) for comparisons and extrema. */
    static double[][] operands(BinaryOp op, long seed, int na, int nb) {
        double[] a = Ref.normal(seed, na, 2);
        double[] b = Ref.normal(seed + 1, nb, 2);
        switch (op) {
            case POW -> {
                a = Ref.map(new Nd(a, new int[] {na}), v -> Math.abs(v) + 0.1).v();
                b = Ref.map(new Nd(b, new int[] {nb}), v -> v / 2).v();
            }
            case DIV ->
                b = Ref.map(new Nd(b, new int[] {nb}), v -> Math.copySign(Math.abs(v) + 0.25, v))
                        .v();
            case ADD, SUB, MUL -> {}
            default -> {
                a = Ref.map(new Nd(a, new int[] {na}), Math::rint).v();
                b = Ref.map(new Nd(b, new int[] {nb}), Math::rint).v();
            }
        }
        return new double[][] {a, b};
    }

    @ParameterizedTest
    @EnumSource(BinaryOp.class)
    void matchesReferenceWithBroadcastingAndLayouts(BinaryOp op) {
        long seed = 1000L * op.ordinal();
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            for (int[][] pair : PAIRS) {
                for (Layout la : Layout.values()) {
                    Layout lb = Layout.values()[(la.ordinal() + (int) (seed % 3)) % 3];
                    double[][] ab = operands(op, seed++, (int) Ref.numel(pair[0]), (int) Ref.numel(pair[1]));
                    Nd a = new Nd(Ref.round(dt, ab[0]), pair[0]);
                    Nd b = new Nd(Ref.round(dt, ab[1]), pair[1]);
                    Tensor y = apply(op, Ref.make(dt, a, la), Ref.make(dt, b, lb));
                    assertThat(y.dtype()).isEqualTo(dt);
                    Ref.assertClose(
                            op + " " + dt + " " + Arrays.toString(pair[0]) + la + " , " + Arrays.toString(pair[1]) + lb,
                            y,
                            Ref.zip(a, b, (x, z) -> reference(op, x, z)),
                            dt);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(BinaryOp.class)
    void expandedStrideZeroOperands(BinaryOp op) {
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            double[][] ab = operands(op, 5, 9, 4 * 9);
            Nd a = new Nd(Ref.round(dt, ab[0]), new int[] {1, 9});
            Nd b = new Nd(Ref.round(dt, ab[1]), new int[] {4, 9});
            Tensor ea = Tensor.of(dt, a.v(), 1, 9).expand(4, 9); // row broadcast, stride (0, 1)
            Tensor eb = Ref.make(dt, b, Layout.TRANSPOSED);
            Nd ref = Ref.zip(a, b, (x, z) -> reference(op, x, z));
            Ref.assertClose(op + " expanded·transposed " + dt, apply(op, ea, eb), ref, dt);
            Tensor col = Tensor.of(dt, Arrays.copyOf(a.v(), 4), 4, 1).expand(4, 9); // column broadcast, stride (1, 0)
            Nd colRef = Ref.zip(new Nd(Arrays.copyOf(a.v(), 4), new int[] {4, 1}), b, (x, z) -> reference(op, x, z));
            Ref.assertClose(
                    op + " column-expanded " + dt, apply(op, col, Ref.make(dt, b, Layout.NARROWED)), colRef, dt);
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = BinaryOp.class,
            names = {"ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "LT"})
    void largeTensorsAcrossParallelRowsAndChunks(BinaryOp op) {
        // one long run (chunked) and many rows (parallel over rows, broadcast inner operand)
        for (int[][] pair :
                List.of(new int[][] {{2 * 16384 + 29}, {2 * 16384 + 29}}, new int[][] {{301, 137}, {137}}, new int[][] {
                    {301, 1}, {301, 137}
                })) {
            double[][] ab = operands(op, 77, (int) Ref.numel(pair[0]), (int) Ref.numel(pair[1]));
            Nd a = new Nd(Ref.round(DType.F32, ab[0]), pair[0]);
            Nd b = new Nd(Ref.round(DType.F32, ab[1]), pair[1]);
            Tensor y = apply(op, Tensor.of(DType.F32, a.v(), pair[0]), Tensor.of(DType.F32, b.v(), pair[1]));
            Ref.assertClose(
                    op + " large " + Arrays.toString(pair[0]),
                    y,
                    Ref.zip(a, b, (x, z) -> reference(op, x, z)),
                    DType.F32);
        }
    }

    @Test
    void dtypePromotion() {
        Tensor f32 = Tensor.of(DType.F32, new double[] {1.5, -2}, 2);
        Tensor f64 = Tensor.of(DType.F64, new double[] {0.25, 4}, 2);
        Tensor bf = Tensor.of(DType.BF16, new double[] {3, 0.5}, 2);
        Tensor h = Tensor.of(DType.F16, new double[] {2, 8}, 2);
        Tensor i32 = Tensor.of(DType.I32, new double[] {7, -3}, 2);
        Tensor i64 = Tensor.of(DType.I64, new double[] {2, 5}, 2);
        assertThat(f32.add(f64).dtype()).isEqualTo(DType.F64);
        assertThat(f32.add(f64).toDoubleArray()).containsExactly(1.75, 2);
        assertThat(bf.mul(bf).dtype()).isEqualTo(DType.BF16);
        assertThat(bf.mul(bf).toDoubleArray()).containsExactly(9, 0.25);
        assertThat(bf.add(f32).dtype()).isEqualTo(DType.F32);
        assertThat(bf.add(h).dtype()).isEqualTo(DType.F32);
        assertThat(bf.add(h).toDoubleArray()).containsExactly(5, 8.5);
        assertThat(i32.add(f32).dtype()).isEqualTo(DType.F32);
        assertThat(i32.add(f32).toDoubleArray()).containsExactly(8.5, -5);
        assertThat(i32.mul(i32).dtype()).isEqualTo(DType.I32);
        assertThat(i32.mul(i32).toLongArray()).containsExactly(49, 9);
        assertThat(i32.add(i64).dtype()).isEqualTo(DType.I64);
        assertThat(i64.sub(i32).toLongArray()).containsExactly(-5, 8);
        assertThat(i64.add(f64).dtype()).isEqualTo(DType.F64);
        Tensor lt = Elementwise.compare(BinaryOp.LT, i32, i64);
        assertThat(lt.toLongArray()).containsExactly(0, 1);
    }

    @Test
    void bf16ArithmeticRoundsTheF32ResultOnce() {
        double[] a = Ref.round(DType.BF16, Ref.normal(3, 1013, 3));
        double[] b = Ref.round(DType.BF16, Ref.normal(4, 1013, 3));
        Nd na = new Nd(a, new int[] {1013});
        Nd nb = new Nd(b, new int[] {1013});
        for (BinaryOp op : new BinaryOp[] {BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.MAXIMUM}) {
            Tensor y = apply(
                    op, Tensor.of(DType.BF16, a, 1013), Ref.make(DType.BF16, b, new int[] {1013}, Layout.TRANSPOSED));
            assertThat(y.dtype()).isEqualTo(DType.BF16);
            // a op b is exact in f32 for bf16 operands (ADD/SUB up to the exponent gap), so the result is exactly
            // rounded
            Ref.assertClose(
                    op + " bf16", y, Ref.round(DType.BF16, Ref.zip(na, nb, (x, z) -> reference(op, x, z))), DType.BF16);
        }
    }

    @Test
    void scalarsAndSingletons() {
        Tensor s = Tensor.scalar(DType.F64, 2.5);
        assertThat(s.ndim()).isZero();
        Tensor m = Tensor.of(new double[] {1, 2, 3, 4, 5, 6}, 2, 3);
        assertThat(s.mul(m).toDoubleArray()).containsExactly(2.5, 5, 7.5, 10, 12.5, 15);
        assertThat(m.sub(s).toDoubleArray()).containsExactly(-1.5, -0.5, 0.5, 1.5, 2.5, 3.5);
        Tensor ss = s.add(Tensor.scalar(DType.F64, 0.5));
        assertThat(ss.ndim()).isZero();
        assertThat(ss.item()).isEqualTo(3.0);
        Tensor empty = Tensor.zeros(DType.F32, 0, 3);
        assertThat(empty.add(Tensor.ones(3)).shape()).containsExactly(0, 3);
    }

    @Test
    void nanPropagatesThroughExtremaAndComparisonsAreFalse() {
        Tensor a = Tensor.of(new float[] {Float.NaN, 1, 2, Float.NaN, 5, 6, 7, 8, 9, Float.NaN}, 10);
        Tensor b = Tensor.of(new float[] {0, Float.NaN, 3, 4, 5, 6, 7, 8, 9, 1}, 10);
        double[] mx = Elementwise.maximum(a, b).toDoubleArray();
        double[] mn = Elementwise.minimum(a, b).toDoubleArray();
        double[] eq = Elementwise.compare(BinaryOp.EQ, a, b).toDoubleArray();
        for (int i = 0; i < 10; i++) {
            boolean nan = Double.isNaN(a.getFlat(i)) || Double.isNaN(b.getFlat(i));
            assertThat(Double.isNaN(mx[i])).as("max %d", i).isEqualTo(nan);
            assertThat(Double.isNaN(mn[i])).as("min %d", i).isEqualTo(nan);
            assertThat(eq[i]).isEqualTo(!nan && a.getFlat(i) == b.getFlat(i) ? 1 : 0);
        }
    }
}
