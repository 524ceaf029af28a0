package fulgur.cuda;

import static fulgur.cuda.BackendCheck.GPU;
import static fulgur.cuda.BackendCheck.assertClose;
import static fulgur.cuda.BackendCheck.assertExact;
import static fulgur.cuda.BackendCheck.cpu;
import static fulgur.cuda.BackendCheck.dev;
import static fulgur.cuda.BackendCheck.gpu;
import static fulgur.cuda.BackendCheck.ints;
import static fulgur.cuda.BackendCheck.randn;
import static fulgur.cuda.BackendCheck.tol;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.backend.Backend;
import fulgur.backend.Backends;
import fulgur.backend.BinaryOp;
import fulgur.backend.Kernels;
import fulgur.backend.ReduceOp;
import fulgur.backend.UnaryOp;
import fulgur.ops.GluKernels;
import fulgur.ops.Views;
import fulgur.ops.adamw.AdamWCpu;
import fulgur.ops.adamw.AdamWKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Every {@link fulgur.backend.Backend} method of the CUDA backend against the CPU backend on fresh random inputs,
 * with every GPU allocation poisoned (NaN) first. Tolerances (relative norm): f32 1e-5, bf16 1e-2, f64 1e-12,
 * TF32 matrix products 3e-3; integer results, copies and dropout masks exactly.
 */
@Tag("gpu")
class CudaBackendGpuTest {
    private Scope scope;

    @BeforeEach
    void open() {
        scope = Scope.open("test");
    }

    @AfterEach
    void close() {
        scope.close();
    }

    static final DType[] FLOATS = {DType.F32, DType.BF16, DType.F64};

    @Test
    void providerAndTransfers() {
        CudaBackend g = gpu();
        assertThat(fulgur.backend.Backends.of(GPU)).isSameAs(g);
        Tensor x = randn(1, DType.F32, 3, 5, 7);
        Tensor d = dev(x);
        assertThat(d.device()).isEqualTo(GPU);
        assertExact("roundtrip", d, x);
        // strided sources and destinations in both directions, with dtype conversion
        Tensor t = x.permute(2, 0, 1);
        assertExact("H2D strided", dev(t), t.contiguous());
        Tensor dt = d.permute(2, 0, 1).narrow(0, 1, 4);
        assertExact("D2D strided", dt.contiguous(), t.narrow(0, 1, 4).contiguous());
        Tensor host = Tensor.zeros(DType.F64, 7, 3, 5);
        host.permute(1, 2, 0).copyFrom(d);
        assertExact(
                "D2H into strided f64",
                dev(host),
                x.to(DType.F64).permute(2, 0, 1).contiguous());
        Tensor gdst = Tensor.zeros(DType.BF16, GPU, 5, 3);
        gdst.copyFrom(x.select(2, 4).mT());
        assertExact("H2D strided into bf16", gdst, x.select(2, 4).mT().to(DType.BF16));
        // expanded (stride 0) source
        Tensor e = dev(randn(2, DType.F32, 1, 4)).expand(3, 4);
        assertExact("expand", e.contiguous(), e.to(Device.CPU).contiguous());
    }

    @Test
    void rowsCopiedIntoAndOutOfColumnSlices() {
        gpu();
        // a fused projection's gradient assembled from its slices: rows of whole 16-byte chunks take the row kernel,
        // a slice starting off a 16-byte boundary or a row not a multiple of 16 bytes the element-wise one
        for (DType dt : new DType[] {DType.BF16, DType.F32}) {
            for (int[] slice : new int[][] {{8, 40}, {0, 64}, {3, 40}, {8, 36}}) {
                Tensor part = randn(5, DType.F32, 6, slice[1]).to(dt);
                Tensor wide = dev(randn(6, DType.F32, 6, 128).to(dt));
                Tensor ref = wide.to(Device.CPU);
                wide.narrow(1, slice[0], slice[1]).copyFrom(dev(part));
                ref.narrow(1, slice[0], slice[1]).copyFrom(part);
                String what = "into " + dt + " cols " + slice[0] + "+" + slice[1];
                assertExact(what, wide, ref);
                assertExact("out of " + what, wide.narrow(1, slice[0], slice[1]).contiguous(), part);
            }
            // a broadcast row into every row of a slice
            Tensor row = dev(randn(7, DType.F32, 1, 32).to(dt)).expand(4, 32);
            Tensor dst = Tensor.zeros(dt, GPU, 4, 64);
            dst.narrow(1, 16, 32).copyFrom(row);
            Tensor want = Tensor.zeros(dt, 4, 64);
            want.narrow(1, 16, 32).copyFrom(row.to(Device.CPU));
            assertExact("broadcast row " + dt, dst, want);
        }
    }

    @Test
    void copyConversions() {
        gpu();
        Backend c = cpu();
        Tensor f = randn(3, DType.F32, 4, 6).mul(40);
        DType[] all = DType.values();
        for (DType from : all) {
            Tensor src = f.to(from);
            for (DType to : all) {
                Tensor ref = c.empty(to, src.shape());
                c.copy(src.mT(), ref.mT());
                Tensor out = Tensor.empty(to, GPU, src.shape());
                out.mT().copyFrom(dev(src).mT());
                assertExact("copy " + from + "->" + to, out, ref);
            }
        }
    }

    @Test
    void fill() {
        gpu();
        for (DType d : DType.values()) {
            Tensor g = Tensor.zeros(d, GPU, 4, 5);
            Backends.of(g.narrow(1, 1, 3).mT()).fill(g.narrow(1, 1, 3).mT(), 2.5);
            Tensor c = Tensor.zeros(d, 4, 5);
            Backends.of(c).fill(c.narrow(1, 1, 3).mT(), 2.5);
            assertExact("fill " + d, g, c);
        }
    }

    static Tensor domain(UnaryOp op, Tensor x) {
        return switch (op) {
            case LOG, SQRT, RSQRT -> x.abs().add(0.1);
            case POW -> x.abs().add(0.2);
            case RECIPROCAL -> x.abs().add(0.3);
            default -> x;
        };
    }

    @Test
    void unaryForwardAndBackward() {
        Backend g = gpu();
        Backend c = cpu();
        for (DType dt : FLOATS) {
            for (UnaryOp op : UnaryOp.values()) {
                double p =
                        op == UnaryOp.POW ? 1.7 : op == UnaryOp.ADD_SCALAR ? -0.4 : op == UnaryOp.MUL_SCALAR ? 2.5 : 0;
                Tensor x = domain(op, randn(11 + op.ordinal(), DType.F32, 6, 9))
                        .to(dt)
                        .mT(); // transposed view
                Tensor y = c.unary(op, x, p);
                Tensor gx = dev(x.mT().contiguous()).mT(); // the same transposed layout
                Tensor gy = g.unary(op, gx, p);
                double t = dt == DType.F32 ? 2e-5 : tol(dt);
                assertClose(op + " " + dt, gy, y, t);
                Tensor dy = randn(100 + op.ordinal(), DType.F32, 9, 6).to(dt);
                assertClose(
                        op + " backward " + dt,
                        g.unaryBackward(op, gx, gy, dev(dy), p),
                        c.unaryBackward(op, x, y, dy, p),
                        t);
                assertClose(
                        op + " backward (no y) " + dt,
                        g.unaryBackward(op, gx, null, dev(dy), p),
                        c.unaryBackward(op, x, null, dy, p),
                        t);
            }
        }
        // integers compute in f64 and keep their dtype
        Tensor i = ints(5, DType.I64, 50, 4, 5);
        assertExact("neg i64", g.unary(UnaryOp.NEG, dev(i), 0), c.unary(UnaryOp.NEG, i, 0));
    }

    @Test
    void binaryBroadcasting() {
        Backend g = gpu();
        Backend c = cpu();
        DType[][] pairs = {
            {DType.F32, DType.F32},
            {DType.BF16, DType.BF16},
            {DType.BF16, DType.F32},
            {DType.F64, DType.F32},
            {DType.I64, DType.I32},
            {DType.F32, DType.I64}
        };
        for (DType[] pr : pairs) {
            for (BinaryOp op : BinaryOp.values()) {
                Tensor a = pr[0].isFloating() ? randn(21 + op.ordinal(), pr[0], 3, 1, 5) : ints(21, pr[0], 7, 3, 1, 5);
                Tensor b = pr[1].isFloating() ? randn(41 + op.ordinal(), pr[1], 4, 5) : ints(41, pr[1], 7, 4, 5);
                if (op == BinaryOp.POW) {
                    a = a.to(DType.F64).abs().add(0.5).to(pr[0]);
                }
                if (op == BinaryOp.DIV && !pr[1].isFloating()) {
                    b = b.add(1).to(pr[1]);
                }
                Tensor bt = b.mT().contiguous().mT(); // a transposed layout of b
                Tensor ref = c.binary(op, a, bt);
                Tensor out = g.binary(op, dev(a), dev(b.mT().contiguous()).mT());
                DType rt = ref.dtype();
                if (rt.isFloating())
                    assertClose(op + " " + pr[0] + "," + pr[1], out, ref, rt == DType.F32 ? 2e-6 : tol(rt));
                else assertExact(op + " " + pr[0] + "," + pr[1], out, ref);
            }
        }
        // scalar-shaped operand and an expanded one
        Tensor a = randn(7, DType.F32, 2, 3, 4);
        Tensor s = randn(8, DType.F32);
        assertClose("scalar", g.binary(BinaryOp.MUL, dev(a), dev(s)), c.binary(BinaryOp.MUL, a, s), 1e-6);
    }

    @Test
    void largeOperandsTakeTwoGroupsOfFourPerThread() {
        // more groups of four than threads in the grid (132 × 32 blocks of 256 on an H100), so that the loops' second
        // group is taken, and odd sizes for the tails
        Backend g = gpu();
        Backend c = cpu();
        int n = 3 * (1 << 21) + 5;
        Tensor a = randn(151, DType.BF16, n), b = randn(152, DType.BF16, n);
        for (BinaryOp op : new BinaryOp[] {BinaryOp.ADD, BinaryOp.MUL}) {
            assertClose("large " + op, g.binary(op, dev(a), dev(b)), c.binary(op, a, b), 1e-2);
        }
        // SiLU of a column slice of a wider matrix (the row-strided kernel), 8192 × 768 of 8192 × 1536
        Tensor wide = randn(153, DType.BF16, 8192, 1536);
        Tensor slice = wide.narrow(1, 768, 768);
        assertClose(
                "large silu of a slice",
                g.unary(UnaryOp.SILU, dev(wide).narrow(1, 768, 768), 0),
                c.unary(UnaryOp.SILU, slice, 0),
                1e-2);
    }

    @Test
    void contiguousFastPaths() {
        Backend g = gpu();
        Backend c = cpu();
        int n = 4 * 1001 + 3; // a tail after the 4-wide groups
        DType[] ts = {DType.F32, DType.BF16};
        for (DType da : ts) {
            for (DType db : ts) {
                Tensor a = randn(141, da, n), b = randn(142, db, n);
                for (BinaryOp op :
                        new BinaryOp[] {BinaryOp.ADD, BinaryOp.MUL, BinaryOp.DIV, BinaryOp.MAXIMUM, BinaryOp.GE}) {
                    Tensor ref = c.binary(op, a, b);
                    assertClose(
                            "fast " + op + " " + da + "," + db,
                            g.binary(op, dev(a), dev(b)),
                            ref,
                            ref.dtype() == DType.F32 ? 2e-6 : 1e-2);
                }
            }
            Tensor x = randn(143, da, n);
            Tensor dy = randn(144, da, n);
            for (UnaryOp op : new UnaryOp[] {
                UnaryOp.SILU, UnaryOp.EXP, UnaryOp.MUL_SCALAR, UnaryOp.RELU, UnaryOp.TANH, UnaryOp.GELU
            }) {
                Tensor y = c.unary(op, x, 1.5);
                Tensor gy = g.unary(op, dev(x), 1.5);
                assertClose("fast " + op + " " + da, gy, y, da == DType.F32 ? 2e-5 : 1e-2);
                assertClose(
                        "fast " + op + " backward " + da,
                        g.unaryBackward(op, dev(x), gy, dev(dy), 1.5),
                        c.unaryBackward(op, x, y, dy, 1.5),
                        da == DType.F32 ? 2e-5 : 1e-2);
            }
            // column slices (row-strided, as the chunks of a fused projection)
            Tensor wide = randn(145, da, 3, 7, 20);
            Tensor slice = wide.narrow(2, 4, 8);
            Tensor gslice = dev(wide).narrow(2, 4, 8);
            Tensor other2 = randn(146, da, 3, 7, 8);
            Tensor dys = randn(147, da, 3, 7, 8);
            for (UnaryOp op : new UnaryOp[] {UnaryOp.SILU, UnaryOp.SIGMOID}) {
                Tensor y = c.unary(op, slice, 0);
                assertClose("rows " + op + " " + da, g.unary(op, gslice, 0), y, da == DType.F32 ? 2e-5 : 1e-2);
                assertClose(
                        "rows " + op + " backward " + da,
                        g.unaryBackward(op, gslice, null, dev(dys), 0),
                        c.unaryBackward(op, slice, null, dys, 0),
                        da == DType.F32 ? 2e-5 : 1e-2);
            }
            assertClose(
                    "rows mul " + da,
                    g.binary(BinaryOp.MUL, gslice, dev(other2)),
                    c.binary(BinaryOp.MUL, slice, other2),
                    da == DType.F32 ? 2e-6 : 1e-2);
            assertClose(
                    "rows mul' " + da,
                    g.binary(BinaryOp.MUL, dev(other2), gslice),
                    c.binary(BinaryOp.MUL, other2, slice),
                    da == DType.F32 ? 2e-6 : 1e-2);
            DType other = da == DType.F32 ? DType.BF16 : DType.F32;
            Tensor conv = Tensor.empty(other, GPU, n);
            conv.copyFrom(dev(x));
            assertExact("fast convert " + da + "->" + other, conv, x.to(other));
        }
    }

    @Test
    void whereBroadcasting() {
        Backend g = gpu();
        Backend c = cpu();
        Tensor cond = ints(3, DType.I32, 2, 3, 1, 5);
        Tensor a = randn(4, DType.F32, 4, 5);
        Tensor b = randn(5, DType.BF16, 3, 4, 1);
        assertExact("where", g.where(dev(cond), dev(a), dev(b)), c.where(cond, a, b));
    }

    @Test
    void reductions() {
        Backend g = gpu();
        Backend c = cpu();
        int[][] axesSets = {{0}, {1}, {2}, {0, 2}, {1, 2}, {0, 1, 2}};
        for (DType dt : FLOATS) {
            Tensor x = randn(31, DType.F32, 7, 6, 9).to(dt).permute(1, 2, 0); // [6, 9, 7] strided
            Tensor gx = dev(x.permute(2, 0, 1).contiguous()).permute(1, 2, 0); // the same strided layout
            for (ReduceOp op : ReduceOp.values()) {
                for (int[] axes : axesSets) {
                    for (boolean keep : new boolean[] {false, true}) {
                        String what = op + " " + dt + " " + java.util.Arrays.toString(axes) + (keep ? " keep" : "");
                        assertClose(
                                what,
                                g.reduce(op, gx, axes, keep),
                                c.reduce(op, x, axes, keep),
                                dt == DType.F32 ? 2e-6 : tol(dt));
                    }
                }
            }
        }
        // large leading-axis sums (column path), long rows (split rows), integer inputs, NaN propagation
        Tensor big = randn(32, DType.F32, 3000, 130);
        for (ReduceOp op : ReduceOp.values()) {
            assertClose(
                    "cols " + op,
                    g.reduce(op, dev(big), new int[] {0}, false),
                    c.reduce(op, big, new int[] {0}, false),
                    1e-5);
            assertClose(
                    "rows " + op,
                    g.reduce(op, dev(big), new int[] {1}, true),
                    c.reduce(op, big, new int[] {1}, true),
                    1e-5);
            assertClose(
                    "all " + op,
                    g.reduce(op, dev(big), new int[] {0, 1}, false),
                    c.reduce(op, big, new int[] {0, 1}, false),
                    1e-5);
        }
        Tensor iv = ints(33, DType.I64, 100, 5, 8);
        assertClose(
                "sum i64",
                g.reduce(ReduceOp.SUM, dev(iv), new int[] {1}, false),
                c.reduce(ReduceOp.SUM, iv, new int[] {1}, false),
                1e-12);
        Tensor withNan = Tensor.of(new float[] {1, Float.NaN, 3, 4, 5, 6}, 2, 3);
        assertExact(
                "max NaN",
                g.reduce(ReduceOp.MAX, dev(withNan), new int[] {1}, false),
                c.reduce(ReduceOp.MAX, withNan, new int[] {1}, false));
        Tensor empty = Tensor.zeros(DType.F32, 3, 0);
        assertExact(
                "sum empty",
                g.reduce(ReduceOp.SUM, dev(empty), new int[] {1}, false),
                c.reduce(ReduceOp.SUM, empty, new int[] {1}, false));
        assertThatThrownBy(() -> g.reduce(ReduceOp.MAX, dev(empty), new int[] {1}, false))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("reduce MAX");
    }

    @Test
    void argReductions() {
        Backend g = gpu();
        Backend c = cpu();
        Tensor x = ints(41, DType.I32, 4, 5, 37, 3).to(DType.F32); // many ties
        for (int axis = 0; axis < 3; axis++) {
            for (boolean max : new boolean[] {true, false}) {
                assertExact(
                        "arg " + max + " axis " + axis,
                        g.argReduce(max, dev(x), axis, axis == 1),
                        c.argReduce(max, x, axis, axis == 1));
            }
        }
        Tensor r = randn(42, DType.BF16, 9, 1000);
        assertExact("argmax rows", g.argReduce(true, dev(r), 1, false), c.argReduce(true, r, 1, false));
    }

    @Test
    void cumsum() {
        Backend g = gpu();
        Backend c = cpu();
        for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F64, DType.I64}) {
            Tensor x = dt.isFloating() ? randn(51, dt, 3, 7, 4) : ints(51, dt, 9, 3, 7, 4);
            for (int axis = 0; axis < 3; axis++) {
                for (boolean rev : new boolean[] {false, true}) {
                    Tensor xs = x.permute(0, 2, 1);
                    assertClose(
                            "cumsum " + dt + " " + axis + " " + rev,
                            g.cumsum(dev(x).permute(0, 2, 1), axis, rev),
                            c.cumsum(xs, axis, rev),
                            dt == DType.F32 ? 1e-6 : dt == DType.I64 ? 1e-15 : tol(dt));
                }
            }
        }
    }

    @Test
    void matmul() {
        CudaBackend g = gpu();
        Backend c = cpu();
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                for (DType dt : FLOATS) {
                    // a [2, 1, M, K] (or K, M) broadcast against b [3, K, N] (or N, K)
                    int m = 37, k = 53, n = 29;
                    Tensor a = randn(61, dt, ta ? new int[] {2, 1, k, m} : new int[] {2, 1, m, k});
                    Tensor b = randn(62, dt, tb ? new int[] {3, n, k} : new int[] {3, k, n});
                    Tensor ref = c.matmul(a, b, ta, tb, null);
                    g.allowTf32(false);
                    double t = dt == DType.F32 ? 1e-5 : tol(dt);
                    assertClose(
                            "matmul " + dt + " ta=" + ta + " tb=" + tb, g.matmul(dev(a), dev(b), ta, tb, null), ref, t);
                    // the same product from transposed views (passed as transpose flags)
                    Tensor at = dev(a.mT().contiguous()).mT();
                    Tensor bt = dev(b.mT().contiguous()).mT();
                    assertClose("matmul views " + dt, g.matmul(at, bt, ta, tb, null), ref, t);
                    if (dt != DType.F32) {
                        assertClose(
                                "matmul " + dt + " -> f32",
                                g.matmul(dev(a), dev(b), ta, tb, DType.F32),
                                c.matmul(a, b, ta, tb, DType.F32),
                                dt == DType.F64 ? 1e-6 : 5e-3);
                    }
                }
            }
        }
        Tensor a = randn(63, DType.F32, 64, 96);
        Tensor b = randn(64, DType.F32, 96, 80);
        g.allowTf32(true);
        assertClose(
                "matmul tf32", g.matmul(dev(a), dev(b), false, false, null), c.matmul(a, b, false, false, null), 3e-3);
        g.allowTf32(false);
        Tensor m = randn(65, DType.BF16, 5, 16);
        Tensor w = randn(66, DType.F32, 16, 7);
        assertClose(
                "matmul bf16 x f32",
                g.matmul(dev(m), dev(w), false, false, null),
                c.matmul(m, w, false, false, null),
                1e-5);
        // a non-uniform batch layout (narrowed batch) and a strided (neither row- nor column-major) operand
        Tensor big = randn(67, DType.F32, 4, 6, 10, 12);
        Tensor sub = big.narrow(1, 1, 4);
        Tensor rhs = randn(68, DType.F32, 12, 5);
        assertClose(
                "matmul non-uniform batch",
                g.matmul(dev(big).narrow(1, 1, 4), dev(rhs), false, false, null),
                c.matmul(sub, rhs, false, false, null),
                1e-5);
        Tensor strided = dev(randn(69, DType.F32, 10, 24)).narrow(1, 0, 12).permute(0, 1);
        assertClose(
                "matmul k=0",
                g.matmul(dev(Tensor.zeros(3, 0)), dev(Tensor.zeros(0, 4)), false, false, null),
                c.matmul(Tensor.zeros(3, 0), Tensor.zeros(0, 4), false, false, null),
                0);
        assertClose(
                "matmul narrowed",
                g.matmul(strided, dev(rhs), false, false, null),
                c.matmul(strided.to(Device.CPU), rhs, false, false, null),
                1e-5);
        assertThatThrownBy(() -> g.matmul(dev(a), dev(a), false, false, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("matmul: inner dimensions differ");
    }

    @Test
    void softmax() {
        Backend g = gpu();
        Backend c = cpu();
        for (DType dt : FLOATS) {
            for (int cols : new int[] {33, 5000}) {
                for (boolean log : new boolean[] {false, true}) {
                    Tensor x = randn(71 + cols, dt, 7, cols).mul(3).to(dt);
                    Tensor y = c.softmax(x, log);
                    Tensor gy = g.softmax(dev(x), log);
                    double t = dt == DType.F32 ? 1e-5 : tol(dt);
                    assertClose("softmax " + dt + " " + cols + " " + log, gy, y, t);
                    Tensor dy = randn(73 + cols, dt, 7, cols);
                    assertClose(
                            "softmaxBackward " + dt + " " + cols + " " + log,
                            g.softmaxBackward(gy, dev(dy), log),
                            c.softmaxBackward(y, dy, log),
                            dt == DType.F32 ? 1e-5 : dt == DType.F64 ? 1e-10 : 2e-2);
                }
            }
        }
    }

    @Test
    void crossEntropy() {
        Backend g = gpu();
        Backend c = cpu();
        for (DType dt : FLOATS) {
            // 64 and 70000: bf16 rows a multiple of 8 wide take the 16-byte loads; 100 the element-wise path
            for (int vocab : new int[] {100, 64, 70000}) {
                int rows = vocab > 1000 ? 6 : 64;
                Tensor logits = randn(81 + vocab, dt, rows, vocab).mul(2).to(dt);
                long[] t = ints(82, DType.I64, vocab, rows).toLongArray();
                t[1] = -100;
                t[rows - 1] = -100;
                Tensor targets = Tensor.ofLongs(t, rows);
                for (double eps : new double[] {0, 0.1}) {
                    String what = "ce " + dt + " V=" + vocab + " eps=" + eps;
                    double tl = dt == DType.F64 ? 1e-12 : dt == DType.F32 ? 1e-5 : 1e-5;
                    assertClose(
                            what,
                            g.crossEntropy(dev(logits), dev(targets), -100, eps),
                            c.crossEntropy(logits, targets, -100, eps),
                            tl);
                    Tensor gradOut = Tensor.scalar(0.7);
                    assertClose(
                            what + " backward",
                            g.crossEntropyBackward(dev(logits), dev(targets), -100, eps, dev(gradOut)),
                            c.crossEntropyBackward(logits, targets, -100, eps, gradOut),
                            dt == DType.F32 ? 1e-5 : tol(dt));
                }
            }
        }
        // a row whose first logits are -inf (masked words): the same finite loss and gradient on both paths
        for (DType dt : new DType[] {DType.F32, DType.BF16}) {
            float[] v = randn(84, DType.F32, 2, 64).toFloatArray();
            java.util.Arrays.fill(v, 0, 24, Float.NEGATIVE_INFINITY);
            Tensor masked = Tensor.of(v, 2, 64).to(dt);
            Tensor tm = Tensor.ofLongs(new long[] {30, 5}, 2);
            assertClose(
                    "ce -inf " + dt,
                    g.crossEntropy(dev(masked), dev(tm), -100, 0),
                    c.crossEntropy(masked, tm, -100, 0),
                    1e-5);
            assertClose(
                    "ce -inf backward " + dt,
                    g.crossEntropyBackward(dev(masked), dev(tm), -100, 0, dev(Tensor.scalar(1.0))),
                    c.crossEntropyBackward(masked, tm, -100, 0, Tensor.scalar(1.0)),
                    dt == DType.F32 ? 1e-5 : tol(dt));
        }
        // i32 targets from the host, all ignored, out-of-range target
        Tensor logits = randn(83, DType.F32, 4, 10);
        Tensor all = Tensor.ofInts(new int[] {-100, -100, -100, -100}, 4);
        assertClose(
                "ce all ignored", g.crossEntropy(dev(logits), all, -100, 0), c.crossEntropy(logits, all, -100, 0), 0);
        Tensor bad = Tensor.ofInts(new int[] {1, 2, 10, 3}, 4);
        assertThatThrownBy(() -> g.crossEntropy(dev(logits), dev(bad), -100, 0))
                .isInstanceOf(IndexOutOfBoundsException.class)
                .hasMessageContaining("crossEntropy: target 10 at row 2");
    }

    @Test
    void siluMulFused() {
        Backend g = gpu();
        Backend c = cpu();
        for (DType dt : FLOATS) {
            Tensor gate = randn(95, dt, 37, 129).mul(3).to(dt);
            Tensor up = randn(96, dt, 37, 129);
            Tensor dy = randn(97, dt, 37, 129);
            double tl = dt == DType.F64 ? 1e-12 : dt == DType.F32 ? 1e-5 : tol(dt);
            GluKernels k = Kernels.find(GluKernels.class, GPU);
            Tensor s = c.unary(UnaryOp.SILU, gate, 0);
            assertClose("siluMul " + dt, k.siluMul(dev(gate), dev(up)), c.binary(BinaryOp.MUL, s, up), tl);
            Tensor[] q = k.siluMulBackward(dev(gate), dev(up), dev(dy));
            Tensor[] r = {
                c.unaryBackward(UnaryOp.SILU, gate, s, c.binary(BinaryOp.MUL, dy, up), 0), c.binary(BinaryOp.MUL, dy, s)
            };
            assertClose("siluMul d gate " + dt, q[0], r[0], tl);
            assertClose("siluMul d up " + dt, q[1], r[1], tl);
            // a product's backward in one pass: f32 and bf16 (odd element count: the scalar tail), none for f64
            Tensor[] m = k.mulBackward(dev(gate), dev(up), dev(dy));
            if (dt == DType.F64) {
                assertThat(m).isNull();
            } else {
                assertClose("mul d a " + dt, m[0], c.binary(BinaryOp.MUL, dy, up), tl);
                assertClose("mul d b " + dt, m[1], c.binary(BinaryOp.MUL, dy, gate), tl);
            }
        }
    }

    @Test
    void embedding() {
        Backend g = gpu();
        Backend c = cpu();
        for (DType dt : FLOATS) {
            Tensor w = randn(91, dt, 50, 24);
            Tensor ids = ints(92, DType.I64, 50, 3, 7);
            assertExact("embedding " + dt, g.embedding(dev(w), dev(ids)), c.embedding(w, ids));
            Tensor d = randn(93, dt, 3, 7, 24);
            ids = Tensor.ofLongs(new long[] {1, 1, 1, 5, 5, 0, 49, 2, 3, 1, 1, 1, 1, 1, 1, 7, 8, 9, 10, 11, 1}, 3, 7);
            Tensor flat = ids.reshape(21);
            Tensor rows = d.reshape(21, 24);
            assertClose(
                    "embedding gradient " + dt,
                    g.indexAdd(new int[] {50, 24}, 0, dev(flat), dev(rows)),
                    c.indexAdd(new int[] {50, 24}, 0, flat, rows),
                    dt == DType.F64 ? 1e-12 : dt == DType.F32 ? 1e-6 : tol(dt));
        }
        Tensor w = randn(94, DType.F32, 10, 8);
        assertThatThrownBy(() -> g.embedding(dev(w), dev(Tensor.ofInts(new int[] {1, 10}, 2))))
                .isInstanceOf(IndexOutOfBoundsException.class)
                .hasMessageContaining("embedding: id 10 at position 1");
    }

    @Test
    void norms() {
        Backend g = gpu();
        Backend c = cpu();
        for (DType dt : FLOATS) {
            for (int cols : new int[] {24, 1024, 1536}) { // 1024: the warp-per-row kernels in f32 and bf16
                Tensor x = randn(101 + cols, dt, 3, 5, cols).mul(1.5).add(0.3).to(dt);
                Tensor gain = randn(102, dt, cols);
                Tensor bias = randn(103, dt, cols);
                Tensor dy = randn(104, dt, 3, 5, cols);
                double t = dt == DType.F32 ? 1e-5 : tol(dt);
                for (boolean withGain : new boolean[] {false, true}) {
                    String what = "rmsNorm " + dt + " " + cols + (withGain ? " gain" : "");
                    Tensor gn = withGain ? gain : null;
                    Tensor[] r = c.norm(x, gn, null, 1e-6, true);
                    Tensor[] q = g.norm(dev(x), withGain ? dev(gain) : null, null, 1e-6, true);
                    assertClose(what, q[0], r[0], t);
                    assertClose(what + " rstd", q[2], r[2], t);
                    Tensor[] rb = c.normBackward(x, gn, null, r[2], dy, false, null);
                    Tensor[] qb = g.normBackward(dev(x), withGain ? dev(gain) : null, null, q[2], dev(dy), false, null);
                    assertClose(what + " dx", qb[0], rb[0], dt == DType.F32 ? 1e-5 : tol(dt) * 2);
                    if (withGain) assertClose(what + " dgain", qb[1], rb[1], dt == DType.F32 ? 1e-5 : tol(dt) * 2);
                    else assertThat(qb[1]).isNull();
                    // the residual stream's gradient folded into dx, against the CPU's and the plain sum
                    Tensor res = randn(105, dt, 3, 5, cols);
                    Tensor[] rf = c.normBackward(x, gn, null, r[2], dy, false, res);
                    Tensor[] qf =
                            g.normBackward(dev(x), withGain ? dev(gain) : null, null, q[2], dev(dy), false, dev(res));
                    assertClose(what + " dx + addend", qf[0], rf[0], dt == DType.F32 ? 1e-5 : tol(dt) * 2);
                    assertClose(
                            what + " dx + addend vs sum",
                            dev(rf[0]),
                            rb[0].add(res),
                            dt == DType.F32 ? 1e-5 : tol(dt) * 2);
                }
                for (int mode = 0; mode < 4; mode++) {
                    boolean hw = (mode & 1) != 0, hb = (mode & 2) != 0;
                    String what = "layerNorm " + dt + " " + cols + " w=" + hw + " b=" + hb;
                    Tensor[] r = c.norm(x, hw ? gain : null, hb ? bias : null, 1e-5, false);
                    Tensor[] q = g.norm(dev(x), hw ? dev(gain) : null, hb ? dev(bias) : null, 1e-5, false);
                    assertClose(what, q[0], r[0], t);
                    assertClose(what + " mean", q[1], r[1], t);
                    assertClose(what + " rstd", q[2], r[2], t);
                    Tensor[] rb = c.normBackward(x, hw ? gain : null, r[1], r[2], dy, hb, null);
                    Tensor[] qb = g.normBackward(dev(x), hw ? dev(gain) : null, q[1], q[2], dev(dy), hb, null);
                    assertClose(what + " dx", qb[0], rb[0], dt == DType.F32 ? 1e-5 : tol(dt) * 2);
                    if (hw) assertClose(what + " dw", qb[1], rb[1], dt == DType.F32 ? 1e-5 : tol(dt) * 2);
                    if (hb) assertClose(what + " db", qb[2], rb[2], dt == DType.F32 ? 1e-5 : tol(dt) * 2);
                    Tensor res = randn(106, dt, 3, 5, cols);
                    Tensor[] rf = c.normBackward(x, hw ? gain : null, r[1], r[2], dy, hb, res);
                    Tensor[] qf = g.normBackward(dev(x), hw ? dev(gain) : null, q[1], q[2], dev(dy), hb, dev(res));
                    assertClose(what + " dx + addend", qf[0], rf[0], dt == DType.F32 ? 1e-5 : tol(dt) * 2);
                }
            }
        }
    }

    @Test
    void concatAndIndexing() {
        Backend g = gpu();
        Backend c = cpu();
        Tensor a = randn(111, DType.F32, 3, 2, 5);
        Tensor b = randn(112, DType.F32, 3, 4, 5);
        Tensor bt = randn(113, DType.F32, 5, 3, 1);
        Tensor cs = bt.permute(1, 2, 0);
        assertExact("concat", Views.concat(1, dev(a), dev(b), dev(bt).permute(1, 2, 0)), Views.concat(1, a, b, cs));

        Tensor x = randn(114, DType.BF16, 4, 6, 5);
        Tensor idx = ints(115, DType.I64, 6, 4, 3, 5);
        assertExact("gather", g.gather(dev(x), 1, dev(idx)), c.gather(x, 1, idx));
        Tensor src = randn(116, DType.F32, 4, 3, 5);
        assertClose(
                "scatterAdd",
                g.scatterAdd(new int[] {4, 6, 5}, 1, dev(idx), dev(src)),
                c.scatterAdd(new int[] {4, 6, 5}, 1, idx, src),
                1e-6);
        Tensor i1 = Tensor.ofLongs(new long[] {2, 0, 2, 5}, 4);
        assertExact(
                "indexSelect",
                g.indexSelect(dev(x).permute(0, 2, 1), 2, dev(i1)),
                c.indexSelect(x.permute(0, 2, 1), 2, i1));
        Tensor s2 = randn(117, DType.F32, 4, 4, 5);
        assertClose(
                "indexAdd",
                g.indexAdd(new int[] {4, 6, 5}, 1, dev(i1), dev(s2)),
                c.indexAdd(new int[] {4, 6, 5}, 1, i1, s2),
                1e-6);
        Tensor badIdx = Tensor.ofLongs(new long[] {1, 6}, 2);
        assertThatThrownBy(() -> g.indexSelect(dev(x), 1, dev(badIdx)))
                .isInstanceOf(IndexOutOfBoundsException.class)
                .hasMessageContaining("indexSelect: index 6 out of range [0, 6)");
        Tensor badG = Tensor.ofLongs(new long[] {0, 1, 7, 2}, 1, 4, 1);
        assertThatThrownBy(() -> g.gather(dev(x), 1, dev(badG)))
                .isInstanceOf(IndexOutOfBoundsException.class)
                .hasMessageContaining("gather: index 7");
    }

    @Test
    void dropoutMaskMatchesTheCpuStream() {
        Backend g = gpu();
        Backend c = cpu();
        long stream = new fulgur.tensor.Rng(7).nextStream();
        for (DType dt : new DType[] {DType.F32, DType.BF16, DType.I64}) {
            Tensor like = Tensor.zeros(dt, 33, 17);
            assertExact("dropout " + dt, g.dropoutMask(dev(like), 0.3, stream), c.dropoutMask(like, 0.3, stream));
        }
    }

    @Test
    void adamw() {
        Backend g = gpu();
        Backend c = cpu();
        for (DType dt : new DType[] {DType.F32, DType.F64, DType.BF16}) {
            DType mdt = dt == DType.F64 ? DType.F64 : DType.F32;
            Tensor p = randn(121, dt, 40, 33);
            Tensor m = Tensor.zeros(mdt, 40, 33);
            Tensor v = Tensor.zeros(mdt, 40, 33);
            Tensor gp = dev(p), gm = dev(m), gv = dev(v);
            for (int step = 1; step <= 3; step++) {
                Tensor grad = randn(130 + step, dt == DType.BF16 ? DType.F32 : dt, 33, 40)
                        .mT(); // strided gradient
                Tensor schedule = Tensor.of(
                        new double[] {2e-2, 1 - Math.pow(0.9, step), 1 - Math.pow(0.999, step)},
                        3); // lr 2e-2 · scale 0.5
                adamw(AdamWCpu.INSTANCE, p, grad, m, v, schedule, 0.5, 0.9, 0.999, 1e-8, 0.1);
                adamw(
                        gpuAdamW(),
                        gp,
                        dev(grad.mT().contiguous()).mT(),
                        gm,
                        gv,
                        dev(schedule),
                        0.5,
                        0.9,
                        0.999,
                        1e-8,
                        0.1);
            }
            double t = dt == DType.F64 ? 1e-12 : dt == DType.F32 ? 1e-6 : 1e-2;
            assertClose("adamw param " + dt, gp, p, t);
            assertClose("adamw m " + dt, gm, m, dt == DType.F64 ? 1e-12 : 1e-6);
            assertClose("adamw v " + dt, gv, v, dt == DType.F64 ? 1e-12 : 1e-6);
        }
        Tensor sched = dev(Tensor.of(new double[] {1, 0.1, 0.1}, 3));
        assertThatThrownBy(() -> adamw(
                        gpuAdamW(),
                        dev(Tensor.zeros(2, 2)),
                        dev(Tensor.zeros(2, 3)),
                        dev(Tensor.zeros(2, 2)),
                        dev(Tensor.zeros(2, 2)),
                        sched,
                        1,
                        0.9,
                        0.9,
                        1e-8,
                        0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("adamw");
        assertThatThrownBy(() -> adamw(
                        gpuAdamW(),
                        dev(Tensor.zeros(2, 2)),
                        dev(Tensor.zeros(2, 2)),
                        dev(Tensor.zeros(2, 2)),
                        dev(Tensor.zeros(2, 2)),
                        dev(Tensor.zeros(3)),
                        1,
                        0.9,
                        0.9,
                        1e-8,
                        0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("schedule");
    }

    /** The multi-tensor update equals one adamw per parameter bit for bit (f32 fused, bf16 and f64 through the fallback). */
    @Test
    void adamwOverAllParametersEqualsOnePerParameter() {
        Backend g = gpu();
        int[][] shapes = {{40, 33}, {70000}, {3}, {129, 257}};
        DType[] gradTypes = {DType.F32, DType.BF16, DType.F32, DType.F32};
        List<AdamWKernels.Slot> all = new ArrayList<>();
        List<Tensor[]> ref = new ArrayList<>();
        for (int i = 0; i < shapes.length + 2; i++) {
            DType pt = i == shapes.length ? DType.BF16 : i == shapes.length + 1 ? DType.F64 : DType.F32;
            int[] shape = i < shapes.length ? shapes[i] : new int[] {17, 5};
            DType mt = pt == DType.F64 ? DType.F64 : DType.F32;
            Tensor p = randn(600 + i, pt, shape);
            Tensor grad = randn(700 + i, i < shapes.length ? gradTypes[i] : pt, shape);
            Tensor[] a = {dev(p), dev(grad), dev(Tensor.zeros(mt, shape)), dev(Tensor.zeros(mt, shape))};
            Tensor[] b = {
                dev(p),
                i == 3 ? dev(grad.mT().contiguous()).mT() : dev(grad),
                dev(Tensor.zeros(mt, shape)),
                dev(Tensor.zeros(mt, shape))
            };
            double scale = 0.5 + i, wd = i % 2 == 0 ? 0.1 : 0;
            // every other parameter also writes a bf16 copy (a mixed-precision model's weight) in the update's pass
            Tensor copy = i % 2 == 1 ? dev(Tensor.zeros(DType.BF16, shape)) : null;
            all.add(new AdamWKernels.Slot(b[0], b[1], b[2], b[3], scale, wd, copy));
            ref.add(new Tensor[] {a[0], a[1], a[2], a[3], Tensor.scalar(scale), Tensor.scalar(wd)});
        }
        for (int step = 1; step <= 2; step++) {
            Tensor schedule = dev(Tensor.of(new double[] {1e-2, 1 - Math.pow(0.9, step), 1 - Math.pow(0.95, step)}, 3));
            gpuAdamW().update(all, schedule, 0.9, 0.95, 1e-8);
            for (Tensor[] r : ref)
                adamw(gpuAdamW(), r[0], r[1], r[2], r[3], schedule, r[4].item(), 0.9, 0.95, 1e-8, r[5].item());
        }
        for (int i = 0; i < all.size(); i++) {
            assertThat(all.get(i).param().toDoubleArray())
                    .as("param " + i)
                    .containsExactly(ref.get(i)[0].toDoubleArray());
            assertThat(all.get(i).v().toDoubleArray()).as("v " + i).containsExactly(ref.get(i)[3].toDoubleArray());
            if (all.get(i).copy() != null) {
                assertThat(all.get(i).copy().toDoubleArray())
                        .as("copy " + i)
                        .containsExactly(ref.get(i)[0].to(DType.BF16).toDoubleArray());
            }
        }
    }

    private static AdamWKernels gpuAdamW() {
        gpu();
        return Kernels.find(AdamWKernels.class, GPU);
    }

    /** One parameter's update through a device's AdamW kernels. */
    private static void adamw(
            AdamWKernels k,
            Tensor p,
            Tensor grad,
            Tensor m,
            Tensor v,
            Tensor schedule,
            double lrScale,
            double beta1,
            double beta2,
            double eps,
            double wd) {
        k.update(List.of(new AdamWKernels.Slot(p, grad, m, v, lrScale, wd)), schedule, beta1, beta2, eps);
    }

    @Test
    void badInputsNameTheOp() {
        Backend g = gpu();
        Tensor cpuT = Tensor.zeros(2, 2);
        assertThatThrownBy(() -> g.unary(UnaryOp.EXP, cpuT, 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("unary EXP: expected a tensor on cuda:0");
        assertThatThrownBy(() -> g.binary(BinaryOp.ADD, dev(Tensor.zeros(2, 3)), dev(Tensor.zeros(4, 3))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("binary ADD");
        assertThatThrownBy(() -> g.softmax(dev(Tensor.ofInts(new int[] {1, 2}, 2)), false))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("softmax: expected a floating tensor");
        Tensor freed = dev(Tensor.zeros(2, 2));
        freed.close();
        assertThatThrownBy(() -> g.unary(UnaryOp.EXP, freed, 0))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("freed");
    }
}
