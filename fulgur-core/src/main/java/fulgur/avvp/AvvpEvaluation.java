package fulgur.avvp;

import fulgur.autograd.GradMode;
import fulgur.tensor.Scope;
import java.util.ArrayList;
import java.util.List;

/** Scores of a model on a set with segment-level ground truth, and the reference of the video labels alone. */
public final class AvvpEvaluation {
    private AvvpEvaluation() {}

    /** The model's decoded predictions scored by {@link AvvpMetrics} (in evaluation mode, batches of {@code batchSize}). */
    public static AvvpMetrics.Scores evaluate(AvvpModel model, AvvpDataset set, int batchSize) {
        requireTruth(set);
        if (batchSize <= 0) {
            throw new IllegalArgumentException("evaluation batch size must be > 0, got " + batchSize);
        }
        boolean was = model.module().isTraining();
        model.module().train(false);
        AvvpMetrics m = new AvvpMetrics();
        try (var g = GradMode.noGrad()) {
            for (int start = 0; start < set.size(); start += batchSize) {
                List<AvvpVideo> videos = new ArrayList<>();
                for (int i = start; i < Math.min(set.size(), start + batchSize); i++) {
                    videos.add(set.get(i));
                }
                AvvpPrediction p;
                try (Scope s = Scope.open("avvp eval")) {
                    p = model.predict(AvvpBatch.of(videos));
                }
                for (int b = 0; b < videos.size(); b++) {
                    EventGrid[] pred = p.decode(b);
                    m.add(
                            pred[0],
                            pred[1],
                            videos.get(b).audioTruth(),
                            videos.get(b).visualTruth());
                }
            }
        } finally {
            model.module().train(was);
        }
        return m.scores();
    }

    /**
     * The scores of predicting each video's true labels on every segment of both modalities: what video-level
     * classification alone can reach, with no localisation in time or modality.
     */
    public static AvvpMetrics.Scores videoLabelsEverywhere(AvvpDataset set) {
        requireTruth(set);
        AvvpMetrics m = new AvvpMetrics();
        for (int i = 0; i < set.size(); i++) {
            AvvpVideo v = set.get(i);
            EventGrid all = EventGrid.broadcast(v.labels(), v.segments());
            m.add(all, all, v.audioTruth(), v.visualTruth());
        }
        return m.scores();
    }

    private static void requireTruth(AvvpDataset set) {
        if (set.size() == 0) {
            throw new IllegalArgumentException("no videos to evaluate in " + set.description());
        }
        for (int i = 0; i < set.size(); i++) {
            if (!set.get(i).hasTruth()) {
                throw new IllegalArgumentException(set.description() + ": video "
                        + set.get(i).name() + " has no segment-level audio and visual labels to evaluate against");
            }
        }
    }
}
