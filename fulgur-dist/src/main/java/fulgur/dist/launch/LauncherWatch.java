package fulgur.dist.launch;

import java.time.Instant;
import java.util.Map;
import java.util.Optional;

/**
 * A rank started by {@link Launcher} exits when its launcher is gone. The launcher stops its ranks itself when it
 * exits normally or is interrupted, but a launcher killed outright (SIGKILL, the OOM killer) runs no code: its ranks
 * would train on, holding GPUs and writing output nobody reads. So the launcher passes its pid and start time
 * ({@value #PID_VARIABLE}, {@value #START_VARIABLE}) and each rank watches that process
 * ({@link ProcessHandle#onExit()}, which for a process that is not its child polls every few seconds at most and
 * notices a reused pid by its start time). When it ends, the rank says so on stderr and exits.
 */
public final class LauncherWatch {

    /** The launcher's pid, in the environment of the ranks it starts. */
    public static final String PID_VARIABLE = "FULGUR_LAUNCHER_PID";
    /** The launcher's start time (epoch milliseconds), to tell it from a later process that reuses its pid. */
    public static final String START_VARIABLE = "FULGUR_LAUNCHER_START";
    /** The exit code of a rank whose launcher is gone. */
    public static final int EXIT_CODE = 1;

    private static boolean started;

    private LauncherWatch() {}

    /** The variables that let a rank watch this process (the launcher). */
    static Map<String, String> environment() {
        ProcessHandle self = ProcessHandle.current();
        return Map.of(
                PID_VARIABLE,
                Long.toString(self.pid()),
                START_VARIABLE,
                Long.toString(
                        self.info().startInstant().map(Instant::toEpochMilli).orElse(0L)));
    }

    /** Starts watching the launcher when this process was started by one; otherwise does nothing. Idempotent. */
    public static synchronized void startIfLaunched() {
        if (started) {
            return;
        }
        String pid = System.getenv(PID_VARIABLE);
        if (pid == null || pid.isBlank()) {
            return;
        }
        long launcher;
        try {
            launcher = Long.parseLong(pid.trim());
        } catch (NumberFormatException e) {
            System.err.println("fulgur: ignoring " + PID_VARIABLE + "='" + pid + "' (not a pid)");
            return;
        }
        started = true;
        long start = parseOr(System.getenv(START_VARIABLE), 0);
        Thread t = new Thread(
                () -> {
                    Optional<ProcessHandle> h =
                            ProcessHandle.of(launcher).filter(p -> start == 0 || sameStart(p, start));
                    h.ifPresent(p -> p.onExit().join());
                    System.err.println(
                            "fulgur: the launcher (pid " + launcher + ") is gone; stopping this rank" + rank());
                    System.exit(EXIT_CODE);
                },
                "fulgur-launcher-watch");
        t.setDaemon(true);
        t.start();
    }

    private static boolean sameStart(ProcessHandle p, long startMillis) {
        return p.info()
                .startInstant()
                .map(i -> Math.abs(i.toEpochMilli() - startMillis) < 1000)
                .orElse(true);
    }

    private static String rank() {
        String r = System.getenv("RANK");
        return r == null ? "" : " (rank " + r + ")";
    }

    private static long parseOr(String s, long def) {
        try {
            return s == null ? def : Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
            return def;
        }
    }
}
