package fulgur.avvp;

import fulgur.io.AtomicFiles;
import fulgur.io.Npy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes AVVP sets in the {@link Llp} layout (e.g. the synthetic task, to train and evaluate through the LLP reader):
 * the split CSVs, the eval CSVs from the validation and test sets' ground truth, the feature arrays (frame features
 * as {@code framesPerSegment} copies of each segment's visual features) and, where the training videos have them,
 * the segment pseudo labels.
 */
public final class LlpWriter {
    private LlpWriter() {}

    public static void write(Path dir, AvvpDataset train, AvvpDataset val, AvvpDataset test, int framesPerSegment)
            throws IOException {
        if (framesPerSegment <= 0) {
            throw new IllegalArgumentException("frames per segment must be > 0, got " + framesPerSegment);
        }
        for (String d : new String[] {Llp.AUDIO_DIR, Llp.VISUAL_DIR, Llp.MOTION_DIR}) {
            Files.createDirectories(dir.resolve(d));
        }
        StringBuilder audioEvents = new StringBuilder("filename\tonset\toffset\tevent_labels\n");
        StringBuilder visualEvents = new StringBuilder(audioEvents);
        AvvpDataset[] sets = {train, val, test};
        Llp.Split[] splits = Llp.Split.values();
        for (int s = 0; s < sets.length; s++) {
            AvvpDataset set = sets[s];
            if (set.segments() != Llp.SEGMENTS) {
                throw new IllegalArgumentException("the LLP layout has " + Llp.SEGMENTS + " segments per video, "
                        + set.description() + " has " + set.segments());
            }
            StringBuilder csv = new StringBuilder("filename\tevent_labels\n");
            for (int i = 0; i < set.size(); i++) {
                AvvpVideo v = set.get(i);
                csv.append(v.name())
                        .append('\t')
                        .append(labels(v.labels(), set.classes()))
                        .append('\n');
                String id = Llp.featureId(v.name());
                AvvpDataset.Dims dims = set.dims();
                Npy.write(dir.resolve(Llp.AUDIO_DIR).resolve(id + ".npy"), v.audio(), v.segments(), dims.audio());
                Npy.write(
                        dir.resolve(Llp.VISUAL_DIR).resolve(id + ".npy"),
                        frames(v.visual(), dims.visual(), framesPerSegment),
                        v.segments() * framesPerSegment,
                        dims.visual());
                Npy.write(dir.resolve(Llp.MOTION_DIR).resolve(id + ".npy"), v.motion(), v.segments(), dims.motion());
                if (v.audioPseudo() != null && v.visualPseudo() != null) {
                    Files.createDirectories(dir.resolve(Llp.AUDIO_PSEUDO_DIR));
                    Files.createDirectories(dir.resolve(Llp.VISUAL_PSEUDO_DIR));
                    Npy.write(
                            dir.resolve(Llp.AUDIO_PSEUDO_DIR).resolve(id + ".npy"),
                            v.audioPseudo().toFloats(),
                            v.segments(),
                            set.classes().size());
                    Npy.write(
                            dir.resolve(Llp.VISUAL_PSEUDO_DIR).resolve(id + ".npy"),
                            v.visualPseudo().toFloats(),
                            v.segments(),
                            set.classes().size());
                }
                if (splits[s] != Llp.Split.TRAIN && v.hasTruth()) {
                    events(audioEvents, v.name(), v.audioTruth(), set.classes());
                    events(visualEvents, v.name(), v.visualTruth(), set.classes());
                }
            }
            AtomicFiles.writeString(dir.resolve(splits[s].csv()), csv);
        }
        AtomicFiles.writeString(dir.resolve(Llp.EVAL_AUDIO_CSV), audioEvents);
        AtomicFiles.writeString(dir.resolve(Llp.EVAL_VISUAL_CSV), visualEvents);
    }

    private static String labels(boolean[] l, AvvpClasses classes) {
        StringBuilder sb = new StringBuilder();
        for (int c = 0; c < l.length; c++) {
            if (l[c]) {
                sb.append(sb.length() == 0 ? "" : ",").append(classes.name(c));
            }
        }
        return sb.toString();
    }

    private static float[] frames(float[] segments, int dim, int k) {
        int t = segments.length / dim;
        float[] f = new float[t * k * dim];
        for (int s = 0; s < t; s++) {
            for (int j = 0; j < k; j++) {
                System.arraycopy(segments, s * dim, f, (s * k + j) * dim, dim);
            }
        }
        return f;
    }

    private static void events(StringBuilder out, String name, EventGrid g, AvvpClasses classes) {
        for (int c = 0; c < g.classes(); c++) {
            for (int[] e : g.events(c)) {
                out.append(name)
                        .append('\t')
                        .append(e[0])
                        .append('\t')
                        .append(e[1])
                        .append('\t')
                        .append(classes.name(c))
                        .append('\n');
            }
        }
    }
}
