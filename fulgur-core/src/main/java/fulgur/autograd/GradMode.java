package fulgur.autograd;

/**
 * Whether ops record themselves for backward on the current thread. {@code try (var g = GradMode.noGrad()) {...}}
 * turns recording off for inference, optimizer updates and evaluation.
 */
public final class GradMode {
    private static final ThreadLocal<int[]> DISABLED = ThreadLocal.withInitial(() -> new int[1]);

    private GradMode() {}

    public static boolean isEnabled() {
        return DISABLED.get()[0] == 0;
    }

    /** A guard that disables gradient recording until closed. */
    public static Guard noGrad() {
        DISABLED.get()[0]++;
        return new Guard();
    }

    public static final class Guard implements AutoCloseable {
        private boolean closed;

        private Guard() {}

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                DISABLED.get()[0]--;
            }
        }
    }
}
