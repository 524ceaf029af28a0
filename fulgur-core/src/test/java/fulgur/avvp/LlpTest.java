package fulgur.avvp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import fulgur.io.MalformedFileException;
import fulgur.io.Npy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LlpTest {
    private static final AvvpClasses CLASSES = new AvvpClasses(List.of("Speech", "Dog", "Car"));
    private static final AvvpDataset.Dims DIMS = new AvvpDataset.Dims(4, 6, 3);

    @TempDir
    Path dir;

    /** value(v, t, i): a distinct feature value per video, segment (or frame) and dimension. */
    private static float value(int video, int t, int i) {
        return video * 100 + t + i * 0.01f;
    }

    private static float[] features(int video, int rows, int dim) {
        float[] f = new float[rows * dim];
        for (int t = 0; t < rows; t++) {
            for (int i = 0; i < dim; i++) {
                f[t * dim + i] = value(video, t, i);
            }
        }
        return f;
    }

    private void writeVideo(String filename, int video) throws Exception {
        String id = filename.substring(0, 11);
        Npy.write(dir.resolve(Llp.AUDIO_DIR).resolve(id + ".npy"), features(video, 10, 4), 10, 4);
        Npy.write(
                dir.resolve(Llp.VISUAL_DIR).resolve(id + ".npy"),
                features(video, 20, 6),
                20,
                6); // 2 frames per segment
        Npy.write(dir.resolve(Llp.MOTION_DIR).resolve(id + ".npy"), features(video, 10, 3), 10, 3);
    }

    @BeforeEach
    void layout() throws Exception {
        for (String d :
                new String[] {Llp.AUDIO_DIR, Llp.VISUAL_DIR, Llp.MOTION_DIR, Llp.AUDIO_PSEUDO_DIR, Llp.VISUAL_PSEUDO_DIR
                }) {
            Files.createDirectories(dir.resolve(d));
        }
        Files.writeString(
                dir.resolve(Llp.TRAIN_CSV),
                "filename\tevent_labels\nBjCEufrlXm4_20_30\tSpeech,Dog\n7nSYwyaP4QE_50_60\tCar\n");
        Files.writeString(
                dir.resolve(Llp.VAL_CSV),
                "filename\tevent_labels\n4YdbENYcIyE_23_33\tDog,Speech\nKSRjje7GH44_60_70\tCar\n");
        Files.writeString(dir.resolve(Llp.TEST_CSV), "filename\tevent_labels\n");
        Files.writeString(
                dir.resolve(Llp.EVAL_AUDIO_CSV),
                "filename\tonset\toffset\tevent_labels\n"
                        + "4YdbENYcIyE_23_33\t0\t4\tSpeech\n4YdbENYcIyE_23_33\t8\t12\tDog\n4YdbENYcIyE_23_33\t5\t5\tCar\nOtherVideo1_0_10\t0\t10\tCar\n");
        Files.writeString(
                dir.resolve(Llp.EVAL_VISUAL_CSV),
                "filename\tonset\toffset\tevent_labels\n4YdbENYcIyE_23_33\t2.0\t6.0\tDog\n");
        writeVideo("BjCEufrlXm4_20_30", 0);
        writeVideo("7nSYwyaP4QE_50_60", 1);
        writeVideo("4YdbENYcIyE_23_33", 2);
        writeVideo("KSRjje7GH44_60_70", 3);
        float[] pseudo = new float[30];
        pseudo[3 * 3 + 1] = 1; // segment 3, Dog
        pseudo[4 * 3] = 0.7f; // segment 4, Speech (above 0.5)
        pseudo[5 * 3] = 0.2f;
        for (String id : new String[] {"BjCEufrlXm4", "7nSYwyaP4QE"}) {
            Npy.write(dir.resolve(Llp.AUDIO_PSEUDO_DIR).resolve(id + ".npy"), pseudo, 10, 3);
            Npy.write(dir.resolve(Llp.VISUAL_PSEUDO_DIR).resolve(id + ".npy"), new float[30], 10, 3);
        }
    }

    @Test
    void readsTheTrainingSplitWithPooledFramesAndPseudoLabels() throws Exception {
        AvvpDataset train = Llp.read(dir, Llp.Split.TRAIN, CLASSES, DIMS);
        assertThat(train.size()).isEqualTo(2);
        assertThat(train.hasPseudoLabels()).isTrue();
        assertThat(train.hasTruth()).isFalse();
        AvvpVideo v = train.get(0);
        assertThat(v.name()).isEqualTo("BjCEufrlXm4_20_30");
        assertThat(v.labels()).containsExactly(true, true, false);
        assertThat(v.audio()).containsExactly(features(0, 10, 4));
        // segment t of the visual stream is the mean of frames 2t and 2t+1
        assertThat(v.visual()[3 * 6 + 5]).isCloseTo((value(0, 6, 5) + value(0, 7, 5)) / 2, within(1e-4f));
        assertThat(v.motion()).containsExactly(features(0, 10, 3));
        assertThat(v.audioPseudo().get(3, 1)).isTrue();
        assertThat(v.audioPseudo().get(4, 0)).isTrue();
        assertThat(v.audioPseudo().get(5, 0)).isFalse();
        assertThat(v.visualPseudo().presence()).containsOnly(false);
        assertThat(train.get(1).labels()).containsExactly(false, false, true);
    }

    @Test
    void readsTheGroundTruthOfAnEvaluationSplit() throws Exception {
        AvvpDataset val = Llp.read(dir, Llp.Split.VAL, CLASSES, DIMS);
        assertThat(val.hasTruth()).isTrue();
        assertThat(val.hasPseudoLabels()).isFalse();
        AvvpVideo v = val.get(0);
        EventGrid audio = new EventGrid(10, 3)
                .fill(0, 0, 4)
                .fill(1, 8, 10); // offset 12 stops at the last segment; [5,5) is empty
        assertThat(v.audioTruth()).isEqualTo(audio);
        assertThat(v.visualTruth()).isEqualTo(new EventGrid(10, 3).fill(1, 2, 6));
        // no rows: no events
        assertThat(val.get(1).audioTruth()).isEqualTo(new EventGrid(10, 3));
        assertThat(val.get(1).hasOverlappingEvents()).isFalse();
        assertThat(Llp.read(dir, Llp.Split.TEST, CLASSES, DIMS).size()).isZero();
    }

    @Test
    void badInputIsOneErrorNamingTheFileAndWhatWasExpected() throws Exception {
        Path audio = dir.resolve(Llp.AUDIO_DIR).resolve("BjCEufrlXm4.npy");
        Npy.write(audio, new float[50], 10, 5);
        assertThatThrownBy(() -> Llp.read(dir, Llp.Split.TRAIN, CLASSES, DIMS))
                .isInstanceOf(MalformedFileException.class)
                .hasMessage(audio + ": expected audio features [10, 4], got [10, 5]");
        Path frames = dir.resolve(Llp.VISUAL_DIR).resolve("BjCEufrlXm4.npy");
        Npy.write(audio, features(0, 10, 4), 10, 4);
        Npy.write(frames, new float[15 * 6], 15, 6);
        assertThatThrownBy(() -> Llp.read(dir, Llp.Split.TRAIN, CLASSES, DIMS))
                .hasMessage(
                        frames + ": expected frame features [k·10, 6] (k frames per segment, 8 in LLP), got [15, 6]");
        float[] nan = features(0, 20, 6);
        nan[5 * 6 + 1] = Float.NaN;
        Npy.write(frames, nan, 20, 6);
        assertThatThrownBy(() -> Llp.read(dir, Llp.Split.TRAIN, CLASSES, DIMS))
                .hasMessage(frames + ": NaN at [5, 1] (features must be finite)");
        Files.delete(frames);
        assertThatThrownBy(() -> Llp.read(dir, Llp.Split.TRAIN, CLASSES, DIMS)).hasMessage(frames + ": no such file");
        writeVideo("BjCEufrlXm4_20_30", 0);

        Files.writeString(
                dir.resolve(Llp.TRAIN_CSV),
                "filename\tevent_labels\nBjCEufrlXm4_20_30\tSpeech\n7nSYwyaP4QE_50_60\tDog,Guitar\n");
        assertThatThrownBy(() -> Llp.read(dir, Llp.Split.TRAIN, CLASSES, DIMS))
                .hasMessage(dir.resolve(Llp.TRAIN_CSV)
                        + ": line 3: unknown event label 'Guitar' (known: Speech, Dog, Car)");
        Files.writeString(dir.resolve(Llp.TRAIN_CSV), "name\tevent_labels\n");
        assertThatThrownBy(() -> Llp.read(dir, Llp.Split.TRAIN, CLASSES, DIMS))
                .hasMessageContaining("line 1: no column 'filename'");
        Files.writeString(
                dir.resolve(Llp.EVAL_VISUAL_CSV),
                "filename\tonset\toffset\tevent_labels\n4YdbENYcIyE_23_33\t2\t6\tdog\n");
        assertThatThrownBy(() -> Llp.read(dir, Llp.Split.VAL, CLASSES, DIMS))
                .hasMessage(dir.resolve(Llp.EVAL_VISUAL_CSV)
                        + ": line 2: unknown event label 'dog' (known: Speech, Dog, Car)");
        Files.writeString(
                dir.resolve(Llp.EVAL_VISUAL_CSV),
                "filename\tonset\toffset\tevent_labels\n4YdbENYcIyE_23_33\t6\t2\tDog\n");
        assertThatThrownBy(() -> Llp.read(dir, Llp.Split.VAL, CLASSES, DIMS))
                .hasMessageContaining("line 2: offset 2 is before onset 6");
        Npy.write(dir.resolve(Llp.AUDIO_PSEUDO_DIR).resolve("BjCEufrlXm4.npy"), new float[20], 10, 2);
        Files.writeString(dir.resolve(Llp.TRAIN_CSV), "filename\tevent_labels\nBjCEufrlXm4_20_30\tSpeech\n");
        assertThatThrownBy(() -> Llp.read(dir, Llp.Split.TRAIN, CLASSES, DIMS))
                .hasMessageContaining("expected segment pseudo labels [10, 3], got [10, 2]");
        assertThatThrownBy(() -> Llp.read(dir.resolve("none"), Llp.Split.TRAIN, CLASSES, DIMS))
                .hasMessage("no LLP directory at " + dir.resolve("none"));
    }

    @Test
    void aWrittenSetReadsBackTheSame() throws Exception {
        SyntheticAvvp task =
                new SyntheticAvvp(new SyntheticAvvp.Settings(3, 5, 10, 4, 6, 3, 6, 4, 3, 0.5, 0.5, 1, 0.2, 0.1));
        Path out = dir.resolve("written");
        LlpWriter.write(
                out,
                task.split(SyntheticAvvp.Split.TRAIN),
                task.split(SyntheticAvvp.Split.VAL),
                task.split(SyntheticAvvp.Split.TEST),
                8);
        AvvpDataset train =
                Llp.read(out, Llp.Split.TRAIN, task.classes(), task.settings().dims());
        AvvpDataset test =
                Llp.read(out, Llp.Split.TEST, task.classes(), task.settings().dims());
        assertThat(train.size()).isEqualTo(6);
        assertThat(test.size()).isEqualTo(3);
        for (int i = 0; i < 6; i++) {
            AvvpVideo a = task.split(SyntheticAvvp.Split.TRAIN).get(i);
            AvvpVideo b = train.get(i);
            assertThat(b.name()).isEqualTo(a.name());
            assertThat(b.labels()).containsExactly(a.labels());
            assertThat(b.audio()).containsExactly(a.audio());
            assertThat(b.visual()).containsExactly(a.visual(), within(1e-5f));
            assertThat(b.audioPseudo()).isEqualTo(a.audioPseudo());
            assertThat(b.visualPseudo()).isEqualTo(a.visualPseudo());
        }
        for (int i = 0; i < 3; i++) {
            assertThat(test.get(i).audioTruth())
                    .isEqualTo(task.split(SyntheticAvvp.Split.TEST).get(i).audioTruth());
            assertThat(test.get(i).visualTruth())
                    .isEqualTo(task.split(SyntheticAvvp.Split.TEST).get(i).visualTruth());
        }
    }
}
