package fulgur.avvp;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A synthetic audio-visual video parsing task with LLP's shape (10 one-second segments, 25 classes, VGGish /
 * ResNet-152 / R(2+1)D feature sizes). Each video has one to three events; each event is audio-only, visual-only or
 * audio-visual, occupies one or two runs of segments per modality it is in (an audio-visual event's visual runs are
 * its audio runs shifted at either end by up to two segments), and events overlap in time wherever their runs do.
 * A segment's features are, per stream, the sum of the class prototypes of its events (audio events in the audio
 * stream, visual events in the frame and motion streams) plus a per-video background and per-segment noise.
 * Training videos carry the video labels and noisy segment pseudo labels per modality (true segments dropped, and
 * segments of the video's other classes switched on, at given rates, as VALOR's CLIP/CLAP labels err); validation and
 * test videos carry the ground truth. Every video is a pure function of (seed, split, index).
 */
public final class SyntheticAvvp {

    /** The task's knobs (JSON field names are what a run's trainer state records). */
    public record Settings(
            @JsonProperty("seed") long seed,
            @JsonProperty("classes") int classes,
            @JsonProperty("segments") int segments,
            @JsonProperty("audio_dim") int audioDim,
            @JsonProperty("visual_dim") int visualDim,
            @JsonProperty("motion_dim") int motionDim,
            @JsonProperty("train_videos") int trainVideos,
            @JsonProperty("val_videos") int valVideos,
            @JsonProperty("test_videos") int testVideos,
            @JsonProperty("signal") double signal,
            @JsonProperty("background") double background,
            @JsonProperty("noise") double noise,
            @JsonProperty("pseudo_miss") double pseudoMiss,
            @JsonProperty("pseudo_false") double pseudoFalse) {

        public Settings {
            if (classes < 3
                    || segments < 2
                    || audioDim <= 0
                    || visualDim <= 0
                    || motionDim <= 0
                    || trainVideos <= 0
                    || valVideos < 0
                    || testVideos < 0) {
                throw new IllegalArgumentException(
                        "synthetic AVVP: need at least 3 classes, 2 segments, positive feature sizes and training videos");
            }
            if (!(signal > 0)
                    || background < 0
                    || !(noise >= 0)
                    || !(pseudoMiss >= 0 && pseudoMiss < 1)
                    || !(pseudoFalse >= 0 && pseudoFalse < 1)) {
                throw new IllegalArgumentException(
                        "synthetic AVVP: need signal > 0, background and noise >= 0, pseudo-label error rates in [0, 1)");
            }
        }

        /** LLP's shape: 25 classes, 10 segments, 128/2048/512 features; 2000 training, 200 validation, 1000 test videos. */
        public static Settings defaults(long seed) {
            return new Settings(seed, 25, 10, 128, 2048, 512, 2000, 200, 1000, 0.35, 0.5, 1.0, 0.15, 0.05);
        }

        public Settings withTrainVideos(int n) {
            return new Settings(
                    seed,
                    classes,
                    segments,
                    audioDim,
                    visualDim,
                    motionDim,
                    n,
                    valVideos,
                    testVideos,
                    signal,
                    background,
                    noise,
                    pseudoMiss,
                    pseudoFalse);
        }

        public Settings withSizes(int train, int val, int test) {
            return new Settings(
                    seed,
                    classes,
                    segments,
                    audioDim,
                    visualDim,
                    motionDim,
                    train,
                    val,
                    test,
                    signal,
                    background,
                    noise,
                    pseudoMiss,
                    pseudoFalse);
        }

        public Settings withDims(int audio, int visual, int motion) {
            return new Settings(
                    seed,
                    classes,
                    segments,
                    audio,
                    visual,
                    motion,
                    trainVideos,
                    valVideos,
                    testVideos,
                    signal,
                    background,
                    noise,
                    pseudoMiss,
                    pseudoFalse);
        }

        public Settings withNoise(double signal, double background, double noise) {
            return new Settings(
                    seed,
                    classes,
                    segments,
                    audioDim,
                    visualDim,
                    motionDim,
                    trainVideos,
                    valVideos,
                    testVideos,
                    signal,
                    background,
                    noise,
                    pseudoMiss,
                    pseudoFalse);
        }

        public AvvpDataset.Dims dims() {
            return new AvvpDataset.Dims(audioDim, visualDim, motionDim);
        }
    }

    /** Splits of the task. */
    public enum Split {
        TRAIN,
        VAL,
        TEST
    }

    private final Settings s;
    private final AvvpClasses classes;
    private final float[][] audioPrototypes;
    private final float[][] visualPrototypes;
    private final float[][] motionPrototypes;

    public SyntheticAvvp(Settings settings) {
        this.s = settings;
        this.classes = settings.classes() == AvvpClasses.LLP.size() ? AvvpClasses.llp() : numbered(settings.classes());
        SplittableRandom r = new SplittableRandom(mix(settings.seed(), 0x5EED));
        audioPrototypes = prototypes(r, settings.audioDim());
        visualPrototypes = prototypes(r, settings.visualDim());
        motionPrototypes = prototypes(r, settings.motionDim());
    }

    private static AvvpClasses numbered(int n) {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            names.add("class_" + i);
        }
        return new AvvpClasses(names);
    }

    private float[][] prototypes(SplittableRandom r, int dim) {
        float[][] p = new float[s.classes()][dim];
        for (float[] row : p) {
            for (int i = 0; i < dim; i++) {
                row[i] = (float) (s.signal() * r.nextGaussian());
            }
        }
        return p;
    }

    public Settings settings() {
        return s;
    }

    public AvvpClasses classes() {
        return classes;
    }

    /** The videos of a split, generated on demand. */
    public AvvpDataset split(Split split) {
        int n = switch (split) {
            case TRAIN -> s.trainVideos();
            case VAL -> s.valVideos();
            case TEST -> s.testVideos();
        };
        return new AvvpDataset(
                "synthetic AVVP " + split.name().toLowerCase() + " (seed " + s.seed() + ", " + n + " videos)",
                classes,
                s.segments(),
                s.dims(),
                n,
                i -> video(split, i));
    }

    /** Video i of a split. */
    public AvvpVideo video(Split split, int index) {
        SplittableRandom r = new SplittableRandom(mix(mix(s.seed(), split.ordinal() + 1), index));
        int t = s.segments();
        int c = s.classes();
        EventGrid audio = new EventGrid(t, c);
        EventGrid visual = new EventGrid(t, c);
        double u = r.nextDouble();
        int events = u < 0.25 ? 1 : u < 0.7 ? 2 : 3;
        boolean[] labels = new boolean[c];
        for (int e = 0; e < events; e++) {
            int k;
            do {
                k = r.nextInt(c);
            } while (labels[k]);
            labels[k] = true;
            double type = r.nextDouble();
            boolean inAudio = type < 0.75;
            boolean inVisual = type >= 0.25;
            int runs = r.nextDouble() < 0.2 ? 2 : 1;
            for (int q = 0; q < runs; q++) {
                int len = 2 + r.nextInt(t - 1);
                int start = r.nextInt(t - len + 1);
                if (inAudio) {
                    audio.fill(k, start, start + len);
                }
                if (inVisual) {
                    int vs = inAudio ? clamp(start + r.nextInt(5) - 2, 0, t - 1) : start;
                    int ve = inAudio ? clamp(start + len + r.nextInt(5) - 2, vs + 1, t) : start + len;
                    visual.fill(k, vs, ve);
                }
            }
        }
        float[] a = features(r, audio, audioPrototypes, s.audioDim());
        float[] v = features(r, visual, visualPrototypes, s.visualDim());
        float[] m = features(r, visual, motionPrototypes, s.motionDim());
        // 11 characters before the first '_', distinct across splits: LLP's feature file names
        String name = String.format("syn%c%07d_0_%d", "rvt".charAt(split.ordinal()), index, t);
        if (split == Split.TRAIN) {
            return new AvvpVideo(
                    name, t, a, v, m, labels, pseudo(r, audio, labels), pseudo(r, visual, labels), null, null);
        }
        return new AvvpVideo(name, t, a, v, m, labels, null, null, audio, visual);
    }

    private float[] features(SplittableRandom r, EventGrid events, float[][] prototypes, int dim) {
        int t = s.segments();
        float[] x = new float[t * dim];
        float[] bg = new float[dim];
        for (int i = 0; i < dim; i++) {
            bg[i] = (float) (s.background() * r.nextGaussian());
        }
        for (int seg = 0; seg < t; seg++) {
            int o = seg * dim;
            for (int i = 0; i < dim; i++) {
                x[o + i] = bg[i] + (float) (s.noise() * r.nextGaussian());
            }
            for (int k = 0; k < s.classes(); k++) {
                if (events.get(seg, k)) {
                    float[] p = prototypes[k];
                    for (int i = 0; i < dim; i++) {
                        x[o + i] += p[i];
                    }
                }
            }
        }
        return x;
    }

    /** The truth with misses and false alarms among the video's classes. */
    private EventGrid pseudo(SplittableRandom r, EventGrid truth, boolean[] labels) {
        EventGrid p = truth.copy();
        for (int seg = 0; seg < truth.segments(); seg++) {
            for (int k = 0; k < truth.classes(); k++) {
                if (!labels[k]) {
                    continue;
                }
                if (truth.get(seg, k)) {
                    p.set(seg, k, r.nextDouble() >= s.pseudoMiss());
                } else {
                    p.set(seg, k, r.nextDouble() < s.pseudoFalse());
                }
            }
        }
        return p;
    }

    /** The settings as the JSON-friendly map a run keeps to regenerate its data. */
    public Map<String, Object> spec() {
        @SuppressWarnings("unchecked")
        Map<String, Object> m = fulgur.io.Json.mapper().convertValue(s, Map.class);
        m.put("kind", "avvp-synthetic");
        return m;
    }

    /** The settings a run recorded with {@link #spec()}. */
    public static Settings fromSpec(Map<String, Object> spec) {
        if (spec == null || !"avvp-synthetic".equals(spec.get("kind"))) {
            throw new IllegalArgumentException(
                    "the run was not trained on the synthetic AVVP task (its trainer state records " + spec + ")");
        }
        Map<String, Object> copy = new java.util.LinkedHashMap<>(spec);
        copy.remove("kind");
        return fulgur.io.Json.mapper().convertValue(copy, Settings.class);
    }

    private static int clamp(int x, int lo, int hi) {
        return Math.max(lo, Math.min(hi, x));
    }

    private static long mix(long a, long b) {
        long z = a * 0x9E3779B97F4A7C15L + b;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
