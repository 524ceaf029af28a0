package fulgur.autograd;

/**
 * Whether ops record themselves for backward on the current thread. {@code try (var g = GradMode.noGrad()) {...}}
 * turns recording off for inference, optimizer updates and evaluation.
 */
public final class GradMode {
    private static final ThreadLocal<int[]> DISABLED = ThreadLocal.withInitial(() -> new int[1]);

    private GradMode() {}

    /** {@return whether ops on this thread record the graph now} */
    public static boolean isEnabled() {
        return DISABLED.get()[0] == 0;
    }

    /**
     * A guard that disables gradient recording until closed.
     *
     * @return the guard, to close with try-with-resources
     */
    public static Guard noGrad() {
        DISABLED.get()[0]++;
        return new Guard(-1);
    }

    /**
     * A guard that enables gradient recording until closed, whatever encloses it: a backward function that runs a
     * forward again to differentiate it (activation recomputation) records inside the engine's no-grad pass.
     *
     * @return the guard, to close with try-with-resources
     */
    public static Guard enable() {
        int[] d = DISABLED.get();
        int before = d[0];
        d[0] = 0;
        return new Guard(before);
    }

    /** Restores the gradient mode that was in force when it was opened; closing twice is a no-op. */
    public static final class Guard implements AutoCloseable {
        /** The count to restore (an {@link #enable} guard), or -1 to undo one {@link #noGrad}. */
        private final int restore;

        private boolean closed;

        private Guard(int restore) {
            this.restore = restore;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                if (restore < 0) {
                    DISABLED.get()[0]--;
                } else {
                    DISABLED.get()[0] = restore;
                }
            }
        }
    }
}
