package fulgur.dist.launch;

import fulgur.dist.DistEnv;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Starts the ranks of one node of a job, as torchrun does: {@code nprocPerNode} processes of {@code command}, each
 * with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT set; every line they print is
 * prefixed with {@code [rank R]}; when one exits with an error the others are stopped (SIGTERM, then SIGKILL after
 * a grace period) and its exit code is returned. Returns 0 when all exit 0. Ranks that call
 * {@link LauncherWatch#startIfLaunched()} (every fulgur command does) exit by themselves if the launcher is killed.
 */
public final class Launcher {

    /**
     * How to launch. {@code masterPort} 0 picks a free port (single node only).
     *
     * @param nprocPerNode processes on this node, ≥ 1
     * @param nnodes the nodes of the job, ≥ 1
     * @param nodeRank this node's index, in [0, nnodes)
     * @param masterAddr the host of rank 0
     * @param masterPort rank 0's store port, 0 for a free one (single node)
     * @param command the command each rank runs
     * @param extraEnv more variables for every rank, or null
     * @param killGrace the wait between SIGTERM and SIGKILL, or null for 5 s
     */
    public record Options(
            int nprocPerNode,
            int nnodes,
            int nodeRank,
            String masterAddr,
            int masterPort,
            List<String> command,
            Map<String, String> extraEnv,
            Duration killGrace) {

        /**
         * Checks and copies.
         *
         * @throws IllegalArgumentException for sizes out of range, several nodes without a port, or no command
         */
        public Options {
            if (nprocPerNode < 1) {
                throw new IllegalArgumentException("launch: --nproc-per-node must be >= 1, got " + nprocPerNode);
            }
            if (nnodes < 1 || nodeRank < 0 || nodeRank >= nnodes) {
                throw new IllegalArgumentException(
                        "launch: --node-rank " + nodeRank + " must be in [0, --nnodes " + nnodes + ")");
            }
            if (masterPort == 0 && nnodes > 1) {
                throw new IllegalArgumentException(
                        "launch: with several nodes give --master-port (every node must use the same)");
            }
            if (command == null || command.isEmpty()) {
                throw new IllegalArgumentException("launch: no command to run");
            }
            command = List.copyOf(command);
            extraEnv = extraEnv == null ? Map.of() : Map.copyOf(extraEnv);
            killGrace = killGrace == null ? Duration.ofSeconds(5) : killGrace;
        }

        /**
         * One node with {@code nproc} ranks on a free port.
         *
         * @param nproc the processes
         * @param command the command each rank runs
         * @return the options
         */
        public static Options local(int nproc, List<String> command) {
            return new Options(nproc, 1, 0, "127.0.0.1", 0, command, Map.of(), null);
        }
    }

    private record Exit(int rank, int code) {}

    private Launcher() {}

    /**
     * Runs the node's ranks until they all exit or one fails.
     *
     * @param o the options
     * @param out where the ranks' standard output goes, prefixed
     * @param err where their standard error goes, prefixed
     * @return 0 when all exit 0, else the first failing rank's exit code
     */
    public static int run(Options o, PrintStream out, PrintStream err) {
        int port = o.masterPort() == 0 ? freePort() : o.masterPort();
        int world = o.nprocPerNode() * o.nnodes();
        List<Process> procs = new ArrayList<>();
        List<Thread> pumps = new ArrayList<>();
        LinkedBlockingQueue<Exit> exits = new LinkedBlockingQueue<>();
        Thread hook = new Thread(() -> procs.forEach(Process::destroyForcibly), "fulgur-launch-cleanup");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            for (int local = 0; local < o.nprocPerNode(); local++) {
                int rank = o.nodeRank() * o.nprocPerNode() + local;
                DistEnv env = new DistEnv(rank, world, local, o.nprocPerNode(), o.masterAddr(), port, "fulgur launch");
                ProcessBuilder pb = new ProcessBuilder(o.command());
                pb.environment().putAll(o.extraEnv());
                pb.environment().putAll(env.asEnvironment());
                pb.environment()
                        .putAll(LauncherWatch.environment()); // a rank exits when this process is gone, even killed
                Process p;
                try {
                    p = pb.start();
                } catch (IOException e) {
                    err.println("fulgur launch: cannot start rank " + rank + ": " + e.getMessage());
                    stopAll(procs, o.killGrace());
                    return 127;
                }
                procs.add(p);
                String prefix = "[rank " + rank + "] ";
                pumps.add(pump(p.getInputStream(), out, prefix, "stdout-" + rank));
                pumps.add(pump(p.getErrorStream(), err, prefix, "stderr-" + rank));
                p.onExit().thenAccept(x -> exits.add(new Exit(rank, x.exitValue())));
            }
            int result = 0;
            for (int done = 0; done < procs.size(); done++) {
                Exit e = exits.take();
                if (e.code() != 0) {
                    err.println("fulgur launch: rank " + e.rank() + " exited with code " + e.code()
                            + "; stopping the other ranks");
                    stopAll(procs, o.killGrace());
                    result = e.code();
                    break;
                }
            }
            for (Thread t : pumps) {
                t.join(2000);
            }
            return result;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stopAll(procs, o.killGrace());
            return 130;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException ignored) {
                // shutting down already
            }
        }
    }

    private static void stopAll(List<Process> procs, Duration grace) {
        for (Process p : procs) {
            if (p.isAlive()) {
                p.descendants().forEach(ProcessHandle::destroy);
                p.destroy();
            }
        }
        long deadline = System.nanoTime() + grace.toNanos();
        for (Process p : procs) {
            try {
                long left = deadline - System.nanoTime();
                if (left <= 0 || !p.waitFor(left, TimeUnit.NANOSECONDS)) {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                p.destroyForcibly();
            }
        }
    }

    private static Thread pump(InputStream in, PrintStream to, String prefix, String name) {
        Thread t = new Thread(
                () -> {
                    try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                        String line;
                        while ((line = r.readLine()) != null) {
                            if (line.startsWith(INCUBATOR_WARNING)) {
                                continue; // every rank's JVM prints it; it says nothing about the run
                            }
                            synchronized (to) {
                                to.println(prefix + line);
                            }
                        }
                    } catch (IOException ignored) {
                        // the process went away
                    }
                },
                "fulgur-launch-" + name);
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** The line each JVM started with jdk.incubator.vector prints on stderr (the Vector API is an incubator module). */
    static final String INCUBATOR_WARNING = "WARNING: Using incubator modules";

    /**
     * A TCP port that was free a moment ago.
     *
     * @return the port
     * @throws IllegalStateException when no port can be found
     */
    public static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new IllegalStateException("launch: cannot find a free TCP port: " + e.getMessage(), e);
        }
    }

    /**
     * The command that runs {@code mainClass} in a new JVM like this one (same java, flags and class path).
     *
     * @param mainClass the class to run
     * @param args its arguments
     * @return the command
     */
    public static List<String> javaCommand(String mainClass, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java"));
        for (String a :
                java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!a.startsWith("-agentlib")
                    && !a.startsWith("-javaagent")
                    && !a.startsWith("-XX:StartFlightRecording")) {
                cmd.add(a);
            }
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(mainClass);
        cmd.addAll(args);
        return cmd;
    }
}
