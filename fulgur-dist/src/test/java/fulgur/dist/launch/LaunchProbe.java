package fulgur.dist.launch;

import fulgur.dist.DistEnv;
import fulgur.dist.store.Rendezvous;
import fulgur.dist.store.TcpStore;
import java.time.Duration;

/** A rank program for the multi-process tests (run by the launcher in child JVMs). */
public final class LaunchProbe {
    public static void main(String[] args) throws Exception {
        DistEnv env = DistEnv.fromEnvironment();
        switch (args[0]) {
            case "rendezvous" -> {
                Duration timeout = Duration.ofMillis(Long.parseLong(args[1]));
                try (TcpStore store = Rendezvous.join(env, timeout)) {
                    // exchange something through the store, as the NCCL id exchange does
                    if (env.rank() == 0) {
                        store.set("greeting", "hello from rank 0");
                    }
                    String g = store.getString("greeting", timeout);
                    System.out.println("joined " + env.worldSize() + " local " + env.localRank() + ": " + g);
                    Rendezvous.barrier(store, env, "done", timeout);
                } catch (RuntimeException e) {
                    System.err.println("error: " + e.getMessage());
                    System.exit(2);
                }
            }
            case "fail" -> {
                int failing = Integer.parseInt(args[1]);
                if (env.rank() == failing) {
                    System.out.println("about to fail");
                    System.exit(Integer.parseInt(args[2]));
                }
                System.out.println("waiting");
                Thread.sleep(60_000);
            }
            case "watch" -> {
                LauncherWatch.startIfLaunched(); // as every fulgur command does first
                System.out.println("ready");
                System.out.flush();
                Thread.sleep(120_000);
                System.out.println("still running after 120 s");
            }
            case "stderr" -> System.err.println("a line on stderr");
            default -> throw new IllegalArgumentException(args[0]);
        }
    }
}
