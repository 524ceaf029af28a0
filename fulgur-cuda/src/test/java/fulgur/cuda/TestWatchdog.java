package fulgur.cuda;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Ends a test run on a remote GPU host whose test has run too long: prints the test's name and every thread's stack,
 * then halts the JVM with status 3, so that a hang (or an assertion stuck on a huge diff) still says where it was.
 */
final class TestWatchdog {
    private final long limitNanos;
    private final AtomicReference<String> running = new AtomicReference<>();
    private final AtomicLong since = new AtomicLong();

    private TestWatchdog(long limitSeconds) {
        this.limitNanos = limitSeconds * 1_000_000_000L;
    }

    /** A watchdog on a daemon thread that checks once a second. */
    static TestWatchdog start(long limitSeconds) {
        TestWatchdog w = new TestWatchdog(limitSeconds);
        Thread t = new Thread(w::watch, "gpu-test-watchdog");
        t.setDaemon(true);
        t.start();
        return w;
    }

    void started(String test) {
        since.set(System.nanoTime());
        running.set(test);
    }

    void finished() {
        running.set(null);
    }

    private void watch() {
        while (true) {
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                return;
            }
            String name = running.get();
            if (name != null && System.nanoTime() - since.get() > limitNanos) {
                System.out.println(
                        "[TIMEOUT] " + name + ": still running after " + limitNanos / 1_000_000_000L + " s; threads:");
                Thread.getAllStackTraces().forEach((t, st) -> {
                    System.out.println("  thread " + t.getName() + " (" + t.getState() + ")");
                    for (StackTraceElement e : st) System.out.println("      at " + e);
                });
                System.out.flush();
                Runtime.getRuntime().halt(3);
            }
        }
    }
}
