package fulgur.models.golden;

import fulgur.io.safetensors.TensorIo;
import fulgur.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The golden fixtures under {@code src/test/resources/golden/}: made by the reference implementations themselves
 * (scripts/golden/make_fixtures.sh; docs/reference-parity.md), one folder per architecture with
 * the checkpoint as the reference saved it, golden.safetensors, grads.safetensors and meta.json; and
 * {@code roundtrip/<arch>/}: fulgur-made checkpoints converted to the reference layout (written by
 * {@link RoundTripFixtures}) with what the reference code made of them.
 */
final class Golden {
    static final Path ROOT = Path.of("src", "test", "resources", "golden");

    private Golden() {}

    static Path dir(String name) {
        Path d = ROOT.resolve(name);
        if (!Files.isDirectory(d)) {
            throw new AssertionError("golden fixture " + d.toAbsolutePath()
                    + " is missing: make it on a GPU host with ONLY=\"" + name.replace('/', '-')
                    + "\" bash scripts/golden/make_fixtures.sh OUT and extract OUT/golden-fixtures.tar.gz into fulgur-core/src/test/resources/ "
                    + "(docs/reference-parity.md)");
        }
        return d;
    }

    static Map<String, Tensor> load(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new AssertionError("golden fixture file " + file.toAbsolutePath()
                    + " is missing (scripts/golden/make_fixtures.sh writes it)");
        }
        return TensorIo.load(file).tensors();
    }

    /** int64 ids [B, T] as the int32 ids our embeddings take. */
    static Tensor ids(Tensor ids) {
        long[] v = ids.toLongArray();
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = Math.toIntExact(v[i]);
        }
        return Tensor.ofInts(out, ids.shape());
    }

    /** ‖a − b‖ / ‖b‖. */
    static double relL2(double[] a, double[] b) {
        if (a.length != b.length) {
            throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
        }
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (a[i] - b[i]) * (a[i] - b[i]);
            den += b[i] * b[i];
        }
        return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-300);
    }

    static double norm(double[] a) {
        double s = 0;
        for (double x : a) {
            s += x * x;
        }
        return Math.sqrt(s);
    }
}
