package fulgur.cuda;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Optional per-kernel GPU timing: while {@link #start()}ed, every {@link Kernel#launch} (and whatever calls
 * {@link #around}) is bracketed by CUDA events on its stream; {@link #stop()} waits for them and returns the total
 * device time and launch count per name. For finding where a training step spends its time; off by default (no
 * cost then).
 */
public final class KernelProfiler {
    private KernelProfiler() {}

    /**
     * Device milliseconds and launches of one kernel name.
     *
     * @param name the kernel's name
     * @param millis the device time
     * @param launches the launches
     */
    public record Entry(String name, double millis, int launches) {}

    private record Mark(String name, CudaEvent start, CudaEvent end) {}

    private static volatile boolean on;
    private static final List<Mark> marks = new ArrayList<>();
    private static final ArrayDeque<CudaEvent> pool = new ArrayDeque<>();

    /** {@return whether profiling is on} */
    public static boolean enabled() {
        return on;
    }

    /** Starts profiling, forgetting earlier marks. */
    public static synchronized void start() {
        marks.clear();
        on = true;
    }

    private static CudaEvent event() {
        CudaEvent e = pool.poll();
        return e != null ? e : CudaEvent.create(true);
    }

    /**
     * Records a start event (null when profiling is off, and for work being recorded into a graph: it is not run now).
     *
     * @param s the stream
     * @return a token for {@link #end}, or null
     */
    public static synchronized Object begin(CudaStream s) {
        if (!on || fulgur.backend.Capturing.active()) return null;
        return event().record(s);
    }

    /**
     * Records the end event of a launch that {@link #begin} started.
     *
     * @param token what begin returned (null: nothing is recorded)
     * @param name the kernel's name
     * @param s the stream
     */
    public static synchronized void end(Object token, String name, CudaStream s) {
        if (token == null || !on) return;
        CudaEvent stop = event().record(s); // before the stack walk, which the device would otherwise wait out
        marks.add(new Mark(CALLERS ? name + " @ " + caller() : name, (CudaEvent) token, stop));
    }

    /**
     * With {@code -Dfulgur.cuda.profile.callers=true} each kernel's time is split by where it was asked for (the first
     * two frames outside the CUDA backend), e.g. which of a step's elementwise adds cost what.
     */
    private static final boolean CALLERS = Boolean.getBoolean("fulgur.cuda.profile.callers");

    private static final StackWalker WALKER = StackWalker.getInstance();

    private static String caller() {
        return WALKER.walk(frames -> frames.filter(f -> {
                    String c = f.getClassName();
                    return !c.startsWith("fulgur.cuda.") && !c.startsWith("fulgur.backend.") && !c.startsWith("java.");
                })
                .limit(2)
                .map(f -> f.getClassName().substring(f.getClassName().lastIndexOf('.') + 1) + "." + f.getMethodName()
                        + ":" + f.getLineNumber())
                .reduce((a, b) -> a + " < " + b)
                .orElse("?"));
    }

    /**
     * Runs body between two events named {@code name}.
     *
     * @param name the name to total under
     * @param s the stream
     * @param body the work
     */
    public static void around(String name, CudaStream s, Runnable body) {
        Object t = begin(s);
        body.run();
        end(t, name, s);
    }

    /**
     * Stops, waits for the recorded events and returns the totals, largest first.
     *
     * @return the entries
     */
    public static synchronized List<Entry> stop() {
        on = false;
        Map<String, double[]> acc = new HashMap<>();
        for (Mark m : marks) {
            m.end.synchronize();
            double ms = m.end.elapsedSince(m.start);
            double[] a = acc.computeIfAbsent(m.name, k -> new double[2]);
            a[0] += ms;
            a[1]++;
            pool.add(m.start);
            pool.add(m.end);
        }
        marks.clear();
        List<Entry> out = new ArrayList<>();
        acc.forEach((k, v) -> out.add(new Entry(k, v[0], (int) v[1])));
        out.sort((x, y) -> Double.compare(y.millis(), x.millis()));
        return out;
    }
}
