package fulgur.backend;

/**
 * Whether this thread is recording a {@link StepGraph}. Ops whose work depends on host-side state that changes from
 * call to call (a dropout mask drawn from a host counter) ask it, because a graph would replay one frozen value.
 */
public final class Capturing {
    private static final ThreadLocal<Boolean> ACTIVE = ThreadLocal.withInitial(() -> false);

    private Capturing() {}

    public static boolean active() {
        return ACTIVE.get();
    }

    /** Marks this thread as capturing while {@code body} runs (backends call this around a capture). */
    public static void during(Runnable body) {
        boolean was = ACTIVE.get();
        ACTIVE.set(true);
        try {
            body.run();
        } finally {
            ACTIVE.set(was);
        }
    }

    /** Throws when capturing: {@code what} cannot be part of a captured step, and why. */
    public static void refuse(String what) {
        if (active()) {
            throw new IllegalStateException(
                    what + " cannot be part of a captured step (CUDA graph): the graph would replay one "
                            + "frozen value; train without --cuda-graph");
        }
    }
}
