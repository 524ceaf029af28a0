package fulgur.train;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A {@link TrainingListener} for tests that keeps each output folder's steps across runs, as the metrics log does: a
 * resumed run replaces the steps after its checkpoint's.
 */
public final class RecordedRuns implements TrainingListener {
    private final Map<Path, List<Step>> steps = new HashMap<>();
    private final Map<Path, List<Eval>> evals = new HashMap<>();
    private final Set<Path> finished = new HashSet<>();
    private Path current;

    @Override
    public synchronized void runStarted(Start start) {
        current = start.outDir();
        finished.remove(current);
        List<Step> s = steps.computeIfAbsent(current, k -> new ArrayList<>());
        s.removeIf(x -> !start.resumed() || x.step() > start.step());
        evals.computeIfAbsent(current, k -> new ArrayList<>())
                .removeIf(x -> !start.resumed() || x.step() > start.step());
    }

    @Override
    public synchronized void stepDone(Step step) {
        steps.get(current).add(step);
    }

    @Override
    public synchronized void evalDone(Eval eval) {
        evals.get(current).add(eval);
    }

    @Override
    public synchronized void runFinished(long stepCount) {
        finished.add(current);
    }

    public synchronized List<Step> steps(Path dir) {
        return List.copyOf(steps.getOrDefault(dir, List.of()));
    }

    public synchronized List<Eval> evals(Path dir) {
        return List.copyOf(evals.getOrDefault(dir, List.of()));
    }

    /** The train losses of every step, in order. */
    public List<Double> losses(Path dir) {
        return steps(dir).stream().map(Step::loss).toList();
    }

    public synchronized boolean finished(Path dir) {
        return finished.contains(dir);
    }
}
