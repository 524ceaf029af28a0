package fulgur.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.backend.ReduceOp;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import fulgur.testing.ScopedTest;
import java.util.function.Consumer;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;

/**
 * Bad input raises an exception whose message names the op and what was wrong; nothing corrupts memory silently or
 * brings the JVM down.
 */
class BadInputTest extends ScopedTest {

    static Tensor f32(int... shape) {
        return Tensor.zeros(DType.F32, shape);
    }

    /** The call fails with type, and its message contains every fragment (case-insensitive). */
    static void fails(ThrowingCallable call, Class<? extends Throwable> type, String... fragments) {
        Throwable t = org.assertj.core.api.Assertions.catchThrowable(call);
        assertThat(t).as("expected %s", type.getSimpleName()).isInstanceOf(type);
        for (String f : fragments) {
            assertThat(t.getMessage()).as("message of %s", t).containsIgnoringCase(f);
        }
    }

    @Test
    void mismatchedShapes() {
        fails(
                () -> f32(2, 3).add(f32(4)),
                IllegalArgumentException.class,
                "add",
                "[2, 3]",
                "[4]",
                "cannot be broadcast");
        fails(() -> f32(3, 1, 5).mul(f32(2, 5, 5)), IllegalArgumentException.class, "mul", "cannot be broadcast");
        fails(
                () -> f32(2, 3).matmul(f32(4, 5)),
                IllegalArgumentException.class,
                "matmul",
                "inner dimensions",
                "3 vs 4");
        fails(() -> f32(3).matmul(f32(4)), IllegalArgumentException.class, "matmul", "inner dimensions");
        fails(() -> f32(2, 3, 4).matmul(f32(3, 4, 5)), IllegalArgumentException.class, "matmul", "[2]", "[3]");
        fails(() -> Tensor.scalar(1).matmul(f32(2, 2)), IllegalArgumentException.class, "matmul", "at least");
        fails(
                () -> LinearAlgebra.linear(f32(2, 3), f32(4, 5), null),
                IllegalArgumentException.class,
                "linear",
                "[2, 3]",
                "[4, 5]");
        fails(
                () -> Views.concat(1, f32(2, 3), f32(3, 3)),
                IllegalArgumentException.class,
                "concat",
                "[2, 3]",
                "[3, 3]");
        fails(() -> Views.stack(0, f32(2, 3), f32(3, 2)), IllegalArgumentException.class, "stack", "shape");
        fails(
                () -> Indexing.where(f32(2), f32(3), f32(3)),
                IllegalArgumentException.class,
                "where",
                "cannot be broadcast");
        fails(() -> Norms.rmsNorm(f32(2, 4), f32(3), 1e-6), IllegalArgumentException.class, "rmsNorm", "[4]", "[3]");
        fails(
                () -> Norms.layerNorm(f32(2, 4), f32(4), f32(5), 1e-6),
                IllegalArgumentException.class,
                "layerNorm",
                "[4]",
                "[5]");
        fails(
                () -> Losses.crossEntropy(f32(3, 5), Tensor.ofLongs(new long[] {1, 2}, 2)),
                IllegalArgumentException.class,
                "crossEntropy",
                "targets");
        fails(() -> f32(2, 3).copyFrom(f32(3, 2)), IllegalArgumentException.class, "copyFrom", "[3, 2]");
        fails(() -> Views.split(f32(2, 5), 1, 2, 2), IllegalArgumentException.class, "split", "sum to 4");
        fails(() -> Views.chunk(f32(2, 5), 1, 2), IllegalArgumentException.class, "chunk", "2 equal parts");
        fails(
                () -> Indexing.gather(f32(2, 3), 1, Tensor.ofLongs(new long[] {0, 0, 0, 0, 0, 0}, 3, 2)),
                IllegalArgumentException.class,
                "gather",
                "dimension 0");
        fails(
                () -> Indexing.gather(f32(2, 3), 1, Tensor.ofLongs(new long[] {0, 0}, 2)),
                IllegalArgumentException.class,
                "gather",
                "rank");
    }

    @Test
    void scatterAddRejectsAnIndexLargerThanTheBase() {
        // an index wider than the base outside the scatter axis must not wrap into the next row
        Tensor base = f32(3, 2);
        Tensor index = Tensor.ofLongs(new long[] {0, 1, 2, 0, 1, 2}, 2, 3);
        fails(
                () -> Indexing.scatterAdd(base, 0, index, f32(2, 3)),
                IllegalArgumentException.class,
                "scatterAdd",
                "dimension 1");
        fails(
                () -> Indexing.scatterAdd(base, 0, Tensor.ofLongs(new long[] {0, 1}, 2), f32(2)),
                IllegalArgumentException.class,
                "scatterAdd",
                "rank");
        fails(
                () -> Indexing.scatterAdd(base, 0, Tensor.ofLongs(new long[] {0, 1}, 1, 2), f32(2, 1)),
                IllegalArgumentException.class,
                "scatterAdd",
                "shape");
    }

    @Test
    void wrongDtypes() {
        Tensor w = f32(5, 3);
        fails(() -> Indexing.embedding(w, f32(2)), IllegalArgumentException.class, "embedding", "integer");
        fails(() -> Indexing.gather(f32(2, 3), 1, f32(2, 3)), IllegalArgumentException.class, "gather", "integer");
        fails(
                () -> Indexing.indexSelect(f32(2, 3), 0, f32(2)),
                IllegalArgumentException.class,
                "indexSelect",
                "integer");
        fails(
                () -> Indexing.scatterAdd(f32(2, 3), 1, f32(2, 3), f32(2, 3)),
                IllegalArgumentException.class,
                "scatterAdd",
                "integer");
        fails(() -> Losses.crossEntropy(f32(2, 3), f32(2)), IllegalArgumentException.class, "crossEntropy", "integer");
        Tensor ints = Tensor.ofInts(new int[] {1, 2, 3, 4}, 2, 2);
        fails(() -> ints.matmul(ints), IllegalArgumentException.class, "matmul", "floating", "i32");
        fails(() -> f32(2, 2).matmul(ints), IllegalArgumentException.class, "matmul", "floating");
        fails(() -> ints.softmax(-1), IllegalArgumentException.class, "softmax", "floating");
        fails(
                () -> Losses.crossEntropy(ints, Tensor.ofInts(new int[] {0, 1}, 2)),
                IllegalArgumentException.class,
                "crossEntropy",
                "floating");
        fails(() -> ints.requiresGrad(true), IllegalArgumentException.class, "requiresGrad", "floating");
        fails(
                () -> Views.concat(0, f32(2), Tensor.zeros(DType.F64, 2)),
                IllegalArgumentException.class,
                "concat",
                "dtype");
        fails(
                () -> Indexing.embedding(f32(5), Tensor.ofLongs(new long[] {1}, 1)),
                IllegalArgumentException.class,
                "embedding",
                "[vocab, dim]");
    }

    @Test
    void outOfRangeIndices() {
        Tensor w = f32(5, 3);
        fails(
                () -> Indexing.embedding(w, Tensor.ofLongs(new long[] {0, 5}, 2)),
                IndexOutOfBoundsException.class,
                "embedding",
                "id 5",
                "[0, 5)");
        fails(
                () -> Indexing.embedding(w, Tensor.ofInts(new int[] {-1}, 1)),
                IndexOutOfBoundsException.class,
                "embedding",
                "id -1");
        fails(
                () -> Indexing.gather(f32(2, 4), 1, Tensor.ofLongs(new long[] {0, 7}, 2, 1)),
                IndexOutOfBoundsException.class,
                "gather",
                "index 7",
                "[0, 4)");
        fails(
                () -> Indexing.gather(f32(2, 4), 1, Tensor.ofLongs(new long[] {-1, 0}, 2, 1)),
                IndexOutOfBoundsException.class,
                "gather",
                "index -1");
        fails(
                () -> Indexing.scatterAdd(f32(2, 4), 1, Tensor.ofLongs(new long[] {4, 0}, 2, 1), f32(2, 1)),
                IndexOutOfBoundsException.class,
                "scatterAdd",
                "index 4");
        fails(
                () -> Indexing.indexSelect(f32(3, 2), 0, Tensor.ofLongs(new long[] {3}, 1)),
                IndexOutOfBoundsException.class,
                "indexSelect",
                "index 3");
        fails(
                () -> Losses.crossEntropy(f32(2, 5), Tensor.ofLongs(new long[] {1, 9}, 2)),
                IndexOutOfBoundsException.class,
                "crossEntropy",
                "target 9",
                "[0, 5)");
        fails(
                () -> Losses.crossEntropy(f32(2, 5), Tensor.ofLongs(new long[] {-3, 1}, 2)),
                IndexOutOfBoundsException.class,
                "crossEntropy",
                "target -3");
        fails(() -> f32(2, 3).narrow(1, 2, 2), IllegalArgumentException.class, "narrow", "[2, 4)", "[0, 3)");
        fails(() -> f32(2, 3).select(0, 2), IndexOutOfBoundsException.class, "select", "index 2");
        fails(() -> f32(2, 3).get(0, 3), IndexOutOfBoundsException.class, "get", "index 3");
        fails(() -> f32(2, 3).sum(2, false), IllegalArgumentException.class, "sum", "axis 2");
        fails(() -> f32(2, 3).softmax(-3), IllegalArgumentException.class, "softmax", "axis -3");
        fails(() -> Indexing.cumsum(f32(2), 1), IllegalArgumentException.class, "cumsum", "axis 1");
        fails(() -> f32(2, 3).permute(0, 0), IllegalArgumentException.class, "permute", "repeated");
        fails(() -> f32(2, 3).permute(0), IllegalArgumentException.class, "permute");
        fails(
                () -> Reductions.reduce(ReduceOp.SUM, f32(2, 3), new int[] {1, -1}, false),
                IllegalArgumentException.class,
                "sum",
                "twice");
    }

    @Test
    void badShapesAndReshapes() {
        fails(() -> f32(2, 3).reshape(-2, 3), IllegalArgumentException.class, "reshape", "-2");
        fails(() -> f32(2, 3).reshape(4), IllegalArgumentException.class, "reshape", "6 elements", "[4]");
        fails(() -> f32(2, 3).reshape(-1, -1), IllegalArgumentException.class, "reshape", "only one");
        fails(() -> f32(2, 3).reshape(4, -1), IllegalArgumentException.class, "reshape", "-1");
        fails(() -> f32(2, 3).expand(3, 3), IllegalArgumentException.class, "expand", "[3, 3]");
        fails(() -> f32(2, 1).expand(2, -2), IllegalArgumentException.class, "expand", "-2");
        fails(() -> f32(2, 3).expand(3), IllegalArgumentException.class, "expand", "fewer");
        fails(() -> f32(2, 3).squeeze(0), IllegalArgumentException.class, "squeeze", "not 1");
        fails(() -> Tensor.zeros(DType.F32, 2, -1), IllegalArgumentException.class, "negative", "[2, -1]");
        int big = 1 << 30;
        fails(() -> Tensor.zeros(DType.F32, big, big, big, big), IllegalArgumentException.class, "empty", "2^63-1");
        fails(
                () -> Tensor.zeros(DType.F32, big, big / 4),
                IllegalStateException.class,
                "allocate",
                "out of host memory");
        fails(() -> Tensor.zeros(DType.F64, big, big), IllegalArgumentException.class, "allocate", "elements of f64");
        assertThat(Tensor.zeros(DType.F32, big, big, big, 0).numel()).isZero();
        fails(() -> Tensor.of(new float[] {1, 2, 3}, 2, 2), IllegalArgumentException.class, "of", "3 values", "[2, 2]");
        fails(() -> f32(2, 2).item(), IllegalArgumentException.class, "item", "one element");
        fails(() -> f32(0, 3).max(0, false), IllegalArgumentException.class, "max", "empty");
        fails(() -> Reductions.argmax(f32(3, 0), 1, false), IllegalArgumentException.class, "argmax", "empty");
        fails(
                () -> Activations.dropout(f32(2), 1, new Rng(1), true),
                IllegalArgumentException.class,
                "dropout",
                "[0, 1)");
        fails(
                () -> Losses.crossEntropy(f32(2, 3), Tensor.ofLongs(new long[] {0, 1}, 2), -100, 1.5),
                IllegalArgumentException.class,
                "crossEntropy",
                "smoothing");
        fails(() -> Shape.broadcast("myop", new int[] {2}, new int[] {3}), IllegalArgumentException.class, "myop");
        fails(
                () -> new Rng(1).truncatedNormal(DType.F32, 0, 1, 1, -1, 3),
                IllegalArgumentException.class,
                "truncatedNormal",
                "a < b");
        fails(() -> Device.parse("tpu"), IllegalArgumentException.class, "tpu");
        fails(() -> DType.fromSafetensorsName("F8"), IllegalArgumentException.class, "F8");
    }

    @Test
    void backwardMisuse() {
        Tensor x = Tensor.of(new double[] {1, 2, 3}, 3).requiresGrad(true);
        fails(() -> x.mul(2.0).backward(), IllegalArgumentException.class, "backward", "scalar", "seed");
        fails(
                () -> x.mul(2.0).backward(Tensor.of(new double[] {1, 2}, 2)),
                IllegalArgumentException.class,
                "backward",
                "seed shape");
        fails(
                () -> Tensor.of(new double[] {1}, 1).sum().backward(),
                IllegalStateException.class,
                "backward",
                "does not require gradients");
    }

    /** A tensor whose scope has been closed. */
    static Tensor freed(int... shape) {
        Tensor t;
        try (Scope s = Scope.open("short")) {
            t = Tensor.ones(shape);
        }
        return t;
    }

    @Test
    void useOfAFreedTensorNamesTheOp() {
        Tensor idx = Tensor.ofLongs(new long[] {0}, 1);
        record Case(String op, Consumer<Tensor> use) {}
        Case[] cases = {
            new Case("add", t -> t.add(f32(2, 3))),
            new Case("add", t -> f32(2, 3).add(t)),
            new Case("exp", Tensor::exp),
            new Case("matmul", t -> t.matmul(f32(3, 2))),
            new Case("matmul", t -> f32(4, 2).matmul(t)),
            new Case("reshape", t -> t.reshape(6)),
            new Case("permute", t -> t.permute(1, 0)),
            new Case("narrow", t -> t.narrow(0, 0, 1)),
            new Case("expand", t -> t.expand(4, 2, 3)),
            new Case("sum", Tensor::sum),
            new Case("argmax", t -> t.argmax(0, false)),
            new Case("softmax", t -> t.softmax(-1)),
            new Case("get", t -> t.get(0, 0)),
            new Case("toDoubleArray", Tensor::toDoubleArray),
            new Case("setFlat", t -> t.setFlat(0, 1)),
            new Case("to", t -> t.to(DType.F64)),
            new Case("contiguous", Tensor::contiguous),
            new Case("copy", t -> f32(2, 3).copyFrom(t)),
            new Case("concat", t -> Views.concat(0, f32(2, 3), t)),
            new Case("stack", t -> Views.stack(0, t, f32(2, 3))),
            new Case("rmsNorm", t -> Norms.rmsNorm(t, null, 1e-6)),
            new Case("crossEntropy", t -> Losses.crossEntropy(t, Tensor.ofLongs(new long[] {0, 1}, 2))),
            new Case("embedding", t -> Indexing.embedding(t, idx)),
            new Case("gather", t -> Indexing.gather(t, 1, Tensor.ofLongs(new long[] {0, 0}, 2, 1))),
            new Case("scatterAdd", t -> Indexing.scatterAdd(t, 1, Tensor.ofLongs(new long[] {0, 0}, 2, 1), f32(2, 1))),
            new Case("indexSelect", t -> Indexing.indexSelect(t, 0, idx)),
            new Case("where", t -> Indexing.where(t, f32(2, 3), f32(2, 3))),
            new Case("where", t -> Indexing.where(f32(2, 3), t, f32(2, 3))),
            new Case("cumsum", t -> Indexing.cumsum(t, 0)),
            new Case("dropout", t -> Activations.dropout(t, 0.5, new Rng(1), true)),
        };
        for (Case c : cases) {
            Tensor t = freed(2, 3);
            fails(() -> c.use.accept(t), IllegalStateException.class, c.op + ":", "freed");
        }
        fails(() -> freed().item(), IllegalStateException.class, "item:", "freed");
        fails(() -> Norms.rmsNorm(f32(4, 3), freed(3), 1e-6), IllegalStateException.class, "rmsNorm:", "freed");
        fails(
                () -> Norms.layerNorm(f32(4, 3), f32(3), freed(3), 1e-6),
                IllegalStateException.class,
                "layerNorm:",
                "freed");
        // index and parameter tensors are checked too, under the op's name
        Tensor deadIds = freedLongs();
        fails(() -> Indexing.embedding(f32(3, 2), deadIds), IllegalStateException.class, "embedding:", "freed");
        fails(() -> Indexing.indexSelect(f32(3, 2), 0, deadIds), IllegalStateException.class, "indexSelect:", "freed");
        fails(() -> Indexing.gather(f32(2, 1), 0, deadIds.reshape(1, 1)), IllegalStateException.class, "freed");
        fails(() -> Losses.crossEntropy(f32(1, 3), deadIds), IllegalStateException.class, "crossEntropy:", "freed");
    }

    static Tensor freedLongs() {
        Tensor t;
        try (Scope s = Scope.open("short")) {
            t = Tensor.ofLongs(new long[] {0}, 1);
        }
        return t;
    }

    @Test
    void closingATensorFreesItAndItsViews() {
        Tensor t = f32(4, 4);
        Tensor view = t.narrow(0, 1, 2);
        t.close();
        t.close(); // twice is a no-op
        fails(view::toDoubleArray, IllegalStateException.class, "freed");
        fails(() -> view.add(view), IllegalStateException.class, "add", "freed");
        assertThat(t.toString()).contains("f32[4, 4]");
    }

    @Test
    void viewsOutsideTheirStorageFailWithoutCrashing() {
        Tensor t = f32(4);
        Tensor bad = Tensor.view(t.storage(), DType.F32, new int[] {4}, new long[] {100}, 0);
        assertThatThrownBy(() -> bad.getFlat(3)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> bad.contiguous()).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> bad.exp()).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> Tensor.view(t.storage(), DType.F32, new int[] {4}, new long[] {1, 1}, 0))
                .hasMessageContaining("view");
    }
}
