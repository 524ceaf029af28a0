package fulgur.avvp;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import java.util.function.Predicate;

/**
 * A set of AVVP videos with its classes and feature sizes. Videos come from a function of their index, so a set can
 * be held in memory (LLP features) or generated on demand (the synthetic task).
 */
public final class AvvpDataset {

    /** Feature sizes per segment: audio (VGGish 128), visual (ResNet-152 2048) and motion (R(2+1)D 512). */
    public record Dims(int audio, int visual, int motion) {
        public static final Dims LLP = new Dims(128, 2048, 512);

        public Dims {
            if (audio <= 0 || visual <= 0 || motion <= 0) {
                throw new IllegalArgumentException(
                        "feature sizes must be > 0, got audio " + audio + ", visual " + visual + ", motion " + motion);
            }
        }
    }

    private final String description;
    private final AvvpClasses classes;
    private final int segments;
    private final Dims dims;
    private final int size;
    private final IntFunction<AvvpVideo> videos;

    public AvvpDataset(
            String description, AvvpClasses classes, int segments, Dims dims, int size, IntFunction<AvvpVideo> videos) {
        if (segments <= 0 || size < 0) {
            throw new IllegalArgumentException(
                    "AVVP set: segments must be > 0 and size >= 0, got " + segments + " and " + size);
        }
        this.description = description;
        this.classes = classes;
        this.segments = segments;
        this.dims = dims;
        this.size = size;
        this.videos = videos;
    }

    public static AvvpDataset of(
            String description, AvvpClasses classes, int segments, Dims dims, List<AvvpVideo> list) {
        List<AvvpVideo> copy = List.copyOf(list);
        return new AvvpDataset(description, classes, segments, dims, copy.size(), copy::get);
    }

    public String description() {
        return description;
    }

    public AvvpClasses classes() {
        return classes;
    }

    public int segments() {
        return segments;
    }

    public Dims dims() {
        return dims;
    }

    public int size() {
        return size;
    }

    public AvvpVideo get(int i) {
        if (i < 0 || i >= size) {
            throw new IndexOutOfBoundsException("video " + i + " of " + size);
        }
        return videos.apply(i);
    }

    /** The videos for which {@code keep} holds (materialised). */
    public AvvpDataset filter(String what, Predicate<AvvpVideo> keep) {
        List<AvvpVideo> kept = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            AvvpVideo v = get(i);
            if (keep.test(v)) {
                kept.add(v);
            }
        }
        return of(description + ", " + what, classes, segments, dims, kept);
    }

    /** Whether every video has segment-level ground truth (what evaluation needs). */
    public boolean hasTruth() {
        return size > 0 && get(0).hasTruth();
    }

    /** Whether the videos carry segment-level pseudo labels (judged by the first). */
    public boolean hasPseudoLabels() {
        return size > 0 && get(0).audioPseudo() != null && get(0).visualPseudo() != null;
    }
}
