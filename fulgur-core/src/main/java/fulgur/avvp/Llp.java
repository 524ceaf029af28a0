package fulgur.avvp;

import fulgur.io.MalformedFileException;
import fulgur.io.Npy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The LLP (Look, Listen and Parse) dataset in the layout its benchmark code reads, under one directory:
 * <pre>
 *   AVVP_train.csv, AVVP_val_pd.csv, AVVP_test_pd.csv   tab-separated: filename, event_labels ("Speech,Dog")
 *   AVVP_eval_audio.csv, AVVP_eval_visual.csv           tab-separated: filename, onset, offset, event_labels
 *   feats/vggish/ID.npy       [10, 128]   audio (VGGish)
 *   feats/res152/ID.npy       [80, 2048]  frames (ResNet-152, 8 per segment; averaged per segment when read)
 *   feats/r2plus1d_18/ID.npy  [10, 512]   motion (R(2+1)D)
 *   CLAP/segment_pseudo_labels/ID.npy, CLIP/segment_pseudo_labels/ID.npy   [10, C] optional audio / visual
 *                                         segment pseudo labels (VALOR's), read for training when present
 * </pre>
 * ID is the first 11 characters of the filename (the YouTube id, as the benchmark code cuts it). An event row sets
 * its class on segments [onset, offset) (an offset past the last segment stops there, as numpy slicing does).
 * Everything is checked when read: a problem is one error naming the file (and line) and what was expected.
 */
public final class Llp {
    public static final String TRAIN_CSV = "AVVP_train.csv";
    public static final String VAL_CSV = "AVVP_val_pd.csv";
    public static final String TEST_CSV = "AVVP_test_pd.csv";
    public static final String EVAL_AUDIO_CSV = "AVVP_eval_audio.csv";
    public static final String EVAL_VISUAL_CSV = "AVVP_eval_visual.csv";
    public static final String AUDIO_DIR = "feats/vggish";
    public static final String VISUAL_DIR = "feats/res152";
    public static final String MOTION_DIR = "feats/r2plus1d_18";
    public static final String AUDIO_PSEUDO_DIR = "CLAP/segment_pseudo_labels";
    public static final String VISUAL_PSEUDO_DIR = "CLIP/segment_pseudo_labels";
    /** LLP's 10 one-second segments. */
    public static final int SEGMENTS = 10;

    /** The splits and their label files. */
    public enum Split {
        TRAIN(TRAIN_CSV),
        VAL(VAL_CSV),
        TEST(TEST_CSV);

        private final String csv;

        Split(String csv) {
            this.csv = csv;
        }

        public String csv() {
            return csv;
        }

        public static Split parse(String s) {
            return switch (s.toLowerCase(java.util.Locale.ROOT)) {
                case "train" -> TRAIN;
                case "val", "validation" -> VAL;
                case "test" -> TEST;
                default ->
                    throw new IllegalArgumentException("unknown split '" + s + "' (expected train, val or test)");
            };
        }
    }

    private Llp() {}

    /** The feature file name of a video: the first 11 characters of its filename. */
    public static String featureId(String filename) {
        return filename.substring(0, Math.min(11, filename.length()));
    }

    /**
     * Reads a split of the LLP directory {@code dir} for {@code classes}, features of {@code dims} over
     * {@link #SEGMENTS} segments. Validation and test splits get their ground truth from the eval CSVs when those
     * exist; the training split gets the pseudo labels when their directories exist.
     */
    public static AvvpDataset read(Path dir, Split split, AvvpClasses classes, AvvpDataset.Dims dims)
            throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("no LLP directory at " + dir);
        }
        Path csv = dir.resolve(split.csv());
        List<String[]> rows = table(csv, "filename", "event_labels");
        Map<String, EventGrid> audioTruth = null;
        Map<String, EventGrid> visualTruth = null;
        if (split != Split.TRAIN
                && Files.isRegularFile(dir.resolve(EVAL_AUDIO_CSV))
                && Files.isRegularFile(dir.resolve(EVAL_VISUAL_CSV))) {
            audioTruth = events(dir.resolve(EVAL_AUDIO_CSV), classes);
            visualTruth = events(dir.resolve(EVAL_VISUAL_CSV), classes);
        }
        boolean pseudo = split == Split.TRAIN
                && Files.isDirectory(dir.resolve(AUDIO_PSEUDO_DIR))
                && Files.isDirectory(dir.resolve(VISUAL_PSEUDO_DIR));
        List<AvvpVideo> videos = new ArrayList<>(rows.size());
        for (int i = 0; i < rows.size(); i++) {
            String[] r = rows.get(i);
            String name = r[0];
            boolean[] labels = labels(csv, i + 2, r[1], classes);
            String id = featureId(name);
            float[] audio = features(dir.resolve(AUDIO_DIR).resolve(id + ".npy"), "audio", dims.audio(), false);
            float[] visual = features(dir.resolve(VISUAL_DIR).resolve(id + ".npy"), "frame", dims.visual(), true);
            float[] motion = features(dir.resolve(MOTION_DIR).resolve(id + ".npy"), "motion", dims.motion(), false);
            EventGrid at = null;
            EventGrid vt = null;
            if (audioTruth != null) {
                at = audioTruth.getOrDefault(name, new EventGrid(SEGMENTS, classes.size()));
                vt = visualTruth.getOrDefault(name, new EventGrid(SEGMENTS, classes.size()));
            }
            EventGrid ap = pseudo ? pseudoLabels(dir.resolve(AUDIO_PSEUDO_DIR).resolve(id + ".npy"), classes) : null;
            EventGrid vp = pseudo ? pseudoLabels(dir.resolve(VISUAL_PSEUDO_DIR).resolve(id + ".npy"), classes) : null;
            videos.add(new AvvpVideo(name, SEGMENTS, audio, visual, motion, labels, ap, vp, at, vt));
        }
        String what = "LLP " + split.name().toLowerCase() + " at " + dir + " (" + videos.size() + " videos"
                + (pseudo ? ", segment pseudo labels" : "") + (audioTruth != null ? ", segment ground truth" : "")
                + ")";
        return AvvpDataset.of(what, classes, SEGMENTS, dims, videos);
    }

    /** Rows of a tab-separated file with a header naming at least {@code columns}, in that order of the result. */
    static List<String[]> table(Path file, String... columns) throws IOException {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (NoSuchFileException e) {
            throw new MalformedFileException(file, "no such file", e);
        }
        if (lines.isEmpty()) {
            throw new MalformedFileException(
                    file, "empty file (expected a tab-separated header: " + String.join(", ", columns) + ")");
        }
        List<String> header = Arrays.asList(lines.get(0).strip().split("\t"));
        int[] at = new int[columns.length];
        for (int k = 0; k < columns.length; k++) {
            at[k] = header.indexOf(columns[k]);
            if (at[k] < 0) {
                throw new MalformedFileException(
                        file, "line 1: no column '" + columns[k] + "' in the tab-separated header " + header);
            }
        }
        List<String[]> rows = new ArrayList<>();
        for (int i = 1; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank()) {
                continue;
            }
            String[] f = line.split("\t", -1);
            String[] row = new String[columns.length];
            for (int k = 0; k < columns.length; k++) {
                if (at[k] >= f.length) {
                    throw new MalformedFileException(
                            file,
                            "line " + (i + 1) + ": " + f.length + " tab-separated fields, the header has "
                                    + header.size());
                }
                row[k] = f[at[k]].strip();
            }
            rows.add(row);
        }
        return rows;
    }

    private static boolean[] labels(Path file, int line, String text, AvvpClasses classes)
            throws MalformedFileException {
        boolean[] labels = new boolean[classes.size()];
        boolean any = false;
        for (String l : text.split(",")) {
            String name = l.strip();
            if (name.isEmpty()) {
                continue;
            }
            labels[index(file, line, name, classes)] = true;
            any = true;
        }
        if (!any) {
            throw new MalformedFileException(file, "line " + line + ": no event labels");
        }
        return labels;
    }

    private static int index(Path file, int line, String name, AvvpClasses classes) throws MalformedFileException {
        int c = classes.indexOf(name);
        if (c < 0) {
            throw new MalformedFileException(
                    file, "line " + line + ": unknown event label '" + name + "' (known: " + classes.list() + ")");
        }
        return c;
    }

    /** Segment ground truth per filename from an eval CSV. */
    static Map<String, EventGrid> events(Path file, AvvpClasses classes) throws IOException {
        Map<String, EventGrid> out = new HashMap<>();
        List<String[]> rows = table(file, "filename", "onset", "offset", "event_labels");
        for (int i = 0; i < rows.size(); i++) {
            String[] r = rows.get(i);
            int line = i + 2;
            int on = segment(file, line, "onset", r[1]);
            int off = segment(file, line, "offset", r[2]);
            if (off < on) {
                throw new MalformedFileException(
                        file, "line " + line + ": offset " + r[2] + " is before onset " + r[1]);
            }
            int c = index(file, line, r[3], classes);
            out.computeIfAbsent(r[0], k -> new EventGrid(SEGMENTS, classes.size()))
                    .fill(c, Math.min(on, SEGMENTS), Math.min(off, SEGMENTS));
        }
        return out;
    }

    private static int segment(Path file, int line, String what, String text) throws MalformedFileException {
        double v;
        try {
            v = Double.parseDouble(text);
        } catch (NumberFormatException e) {
            throw new MalformedFileException(file, "line " + line + ": " + what + " '" + text + "' is not a number");
        }
        if (!(v >= 0) || v > 1e6) {
            throw new MalformedFileException(
                    file, "line " + line + ": " + what + " " + text + " is not a segment index >= 0");
        }
        return (int) v; // the benchmark truncates with int()
    }

    /**
     * A video's features [SEGMENTS, dim], checked for shape and finite values; with {@code frames}, [k·SEGMENTS, dim]
     * frame features averaged over each segment's k frames.
     */
    static float[] features(Path file, String what, int dim, boolean frames) throws IOException {
        Npy.Array a = Npy.read(file);
        int[] s = a.shape();
        boolean ok = s.length == 2 && s[1] == dim && (frames ? s[0] > 0 && s[0] % SEGMENTS == 0 : s[0] == SEGMENTS);
        if (!ok) {
            throw new MalformedFileException(
                    file,
                    "expected " + what + " features [" + (frames ? "k·" : "") + SEGMENTS + ", " + dim + "]"
                            + (frames ? " (k frames per segment, 8 in LLP)" : "") + ", got " + a.shapeString());
        }
        float[] x = a.data();
        for (int i = 0; i < x.length; i++) {
            if (!Float.isFinite(x[i])) {
                throw new MalformedFileException(
                        file, x[i] + " at [" + i / dim + ", " + i % dim + "] (features must be finite)");
            }
        }
        if (!frames || s[0] == SEGMENTS) {
            return x;
        }
        int k = s[0] / SEGMENTS;
        float[] pooled = new float[SEGMENTS * dim];
        for (int f = 0; f < s[0]; f++) {
            int seg = f / k;
            for (int i = 0; i < dim; i++) {
                pooled[seg * dim + i] += x[f * dim + i];
            }
        }
        for (int i = 0; i < pooled.length; i++) {
            pooled[i] /= k;
        }
        return pooled;
    }

    private static EventGrid pseudoLabels(Path file, AvvpClasses classes) throws IOException {
        Npy.Array a = Npy.read(file);
        if (a.shape().length != 2 || a.shape()[0] != SEGMENTS || a.shape()[1] != classes.size()) {
            throw new MalformedFileException(
                    file,
                    "expected segment pseudo labels [" + SEGMENTS + ", " + classes.size() + "], got "
                            + a.shapeString());
        }
        for (float v : a.data()) {
            if (!Float.isFinite(v)) {
                throw new MalformedFileException(file, "pseudo labels must be finite, found " + v);
            }
        }
        return EventGrid.threshold(a.data(), SEGMENTS, classes.size());
    }
}
