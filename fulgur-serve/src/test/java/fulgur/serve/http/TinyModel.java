package fulgur.serve.http;

import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.tensor.DType;
import java.io.IOException;
import java.nio.file.Path;

/** A small TransNormerLLM (byte vocabulary plus end-of-text) saved as a reference checkpoint, for end-to-end tests. */
final class TinyModel {
    private TinyModel() {}

    static Path create(Path dir, int dim, int layers) throws IOException {
        Architecture tnl = Architectures.byName("tnl");
        try (LanguageModel m = tnl.build(tnl.smallConfig(257, dim, layers, 4), 1)) {
            ReferenceCheckpoint.save(m, dir, DType.F32, Long.MAX_VALUE);
        }
        return dir;
    }
}
