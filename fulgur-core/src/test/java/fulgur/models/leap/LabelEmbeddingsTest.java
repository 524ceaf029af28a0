package fulgur.models.leap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.avvp.AvvpClasses;
import fulgur.io.MalformedFileException;
import fulgur.io.Npy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LabelEmbeddingsTest {
    private static final AvvpClasses CLASSES = new AvvpClasses(List.of("Speech", "Dog", "Frying_(food)"));

    @Test
    void readsGloveStyleTextSkippingOtherWordsAndMatchingCase(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("labels.txt");
        Files.writeString(f, "the 9 9\nfrying_(food) 0.5 -1\nSpeech 1 2\n\nDog\t3 4.5\ndog 7 7\n");
        LabelEmbeddings e = LabelEmbeddings.load(f, CLASSES);
        assertThat(e.classes()).isEqualTo(3);
        assertThat(e.dim()).isEqualTo(2);
        assertThat(e.values()).containsExactly(1, 2, 3, 4.5f, 0.5f, -1);
    }

    @Test
    void readsANpyMatrixInClassOrder(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("labels.npy");
        Npy.write(f, new float[] {1, 2, 3, 4, 5, 6}, 3, 2);
        assertThat(LabelEmbeddings.load(f, CLASSES).values()).containsExactly(1, 2, 3, 4, 5, 6);
        Npy.write(f, new float[] {1, 2, 3, 4}, 2, 2);
        assertThatThrownBy(() -> LabelEmbeddings.load(f, CLASSES))
                .isInstanceOf(MalformedFileException.class)
                .hasMessage(f + ": expected label embeddings [3, D] (one row per class, in class order), got [2, 2]");
    }

    @Test
    void missingClassesRaggedRowsAndNonNumbersAreNamed(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("labels.txt");
        Files.writeString(f, "Speech 1 2\nDog 3 4\n");
        assertThatThrownBy(() -> LabelEmbeddings.load(f, CLASSES))
                .hasMessage(f + ": no vector for class 'Frying_(food)' (lines are 'label v1 v2 ...')");
        Files.writeString(f, "Speech 1 2\nDog 3 4 5\nFrying_(food) 1 1\n");
        assertThatThrownBy(() -> LabelEmbeddings.load(f, CLASSES))
                .hasMessage(f + ": line 2: 3 values for 'Dog', other classes have 2");
        Files.writeString(f, "Speech 1 2\nDog 3 x\nFrying_(food) 1 1\n");
        assertThatThrownBy(() -> LabelEmbeddings.load(f, CLASSES)).hasMessage(f + ": line 2: 'x' is not a number");
        Files.writeString(f, "Speech 1 2\nDog 3 NaN\nFrying_(food) 1 1\n");
        assertThatThrownBy(() -> LabelEmbeddings.load(f, CLASSES))
                .hasMessage(f + ": the vector of class 'Dog' holds NaN");
        assertThatThrownBy(() -> LabelEmbeddings.load(dir.resolve("none.txt"), CLASSES))
                .hasMessage(dir.resolve("none.txt") + ": no such file");
    }
}
