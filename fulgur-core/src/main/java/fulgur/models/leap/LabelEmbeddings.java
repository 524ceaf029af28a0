package fulgur.models.leap;

import fulgur.avvp.AvvpClasses;
import fulgur.io.MalformedFileException;
import fulgur.io.Npy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One embedding vector per class (GloVe-300d of the class names in the paper), read from a {@code .npy} array
 * [C, D] in class order, or from a text file of lines {@code label v1 v2 ... vD} (GloVe's format; lines of other
 * labels are skipped, a class matches its line exactly or else ignoring case).
 *
 * @param classes the number of classes C
 * @param dim the values per class D
 * @param values the vectors, row-major [C, D]
 */
public record LabelEmbeddings(int classes, int dim, float[] values) {

    /**
     * Checks the sizes.
     *
     * @throws IllegalArgumentException when a size is not positive or {@code values} does not hold C·D values
     */
    public LabelEmbeddings {
        if (classes <= 0 || dim <= 0 || values.length != classes * dim) {
            throw new IllegalArgumentException(
                    "label embeddings: " + values.length + " values for " + classes + " classes of " + dim);
        }
    }

    /**
     * Reads the vectors of {@code classes}: a {@code .npy} array [C, D] in class order, or GloVe's text format.
     *
     * @param file the {@code .npy} or text file
     * @param classes the classes, whose names select the text file's lines
     * @return the embeddings
     * @throws IOException when the file cannot be read
     * @throws fulgur.io.MalformedFileException when it is malformed, lacks a class or holds a non-finite value
     */
    public static LabelEmbeddings load(Path file, AvvpClasses classes) throws IOException {
        LabelEmbeddings e =
                file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".npy")
                        ? npy(file, classes)
                        : text(file, classes);
        for (int i = 0; i < e.values.length; i++) {
            if (!Float.isFinite(e.values[i])) {
                throw new MalformedFileException(
                        file, "the vector of class '" + classes.name(i / e.dim) + "' holds " + e.values[i]);
            }
        }
        return e;
    }

    private static LabelEmbeddings npy(Path file, AvvpClasses classes) throws IOException {
        Npy.Array a = Npy.read(file);
        if (a.shape().length != 2 || a.shape()[0] != classes.size()) {
            throw new MalformedFileException(
                    file,
                    "expected label embeddings [" + classes.size() + ", D] (one row per class, in class order), got "
                            + a.shapeString());
        }
        return new LabelEmbeddings(classes.size(), a.shape()[1], a.data());
    }

    private static LabelEmbeddings text(Path file, AvvpClasses classes) throws IOException {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (NoSuchFileException e) {
            throw new MalformedFileException(file, "no such file", e);
        }
        Map<String, Integer> exact = new HashMap<>();
        Map<String, Integer> folded = new HashMap<>();
        for (int i = 0; i < lines.size(); i++) {
            String[] f = lines.get(i).strip().split("\\s+", 2);
            if (f[0].isEmpty()) {
                continue;
            }
            exact.putIfAbsent(f[0], i);
            folded.putIfAbsent(f[0].toLowerCase(Locale.ROOT), i);
        }
        int dim = -1;
        float[] values = null;
        for (int c = 0; c < classes.size(); c++) {
            String name = classes.name(c);
            Integer at = exact.getOrDefault(name, folded.get(name.toLowerCase(Locale.ROOT)));
            if (at == null) {
                throw new MalformedFileException(
                        file, "no vector for class '" + name + "' (lines are 'label v1 v2 ...')");
            }
            String[] f = lines.get(at).strip().split("\\s+");
            if (dim < 0) {
                dim = f.length - 1;
                if (dim == 0) {
                    throw new MalformedFileException(
                            file, "line " + (at + 1) + ": no values after the label '" + f[0] + "'");
                }
                values = new float[classes.size() * dim];
            }
            if (f.length - 1 != dim) {
                throw new MalformedFileException(
                        file,
                        "line " + (at + 1) + ": " + (f.length - 1) + " values for '" + f[0] + "', other classes have "
                                + dim);
            }
            for (int k = 0; k < dim; k++) {
                try {
                    values[c * dim + k] = Float.parseFloat(f[k + 1]);
                } catch (NumberFormatException e) {
                    throw new MalformedFileException(file, "line " + (at + 1) + ": '" + f[k + 1] + "' is not a number");
                }
            }
        }
        return new LabelEmbeddings(classes.size(), dim, values);
    }
}
