package fulgur.dist.store;

import fulgur.dist.DistEnv;
import fulgur.dist.DistException;
import fulgur.dist.DistTimeoutException;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Brings the ranks of a job together through the {@link TcpStore} that rank 0 serves at MASTER_ADDR:MASTER_PORT:
 * every rank announces itself, then waits for all the others. A rank that does not show up within the timeout makes
 * every other rank fail with an error that names it; a rank number used twice or a disagreeing world size is an
 * error too. The returned store stays open for later exchanges (e.g. the NCCL unique id); rank 0 must keep it
 * open until the others are done with it.
 */
public final class Rendezvous {
    private Rendezvous() {}

    public static TcpStore join(DistEnv env, Duration timeout) {
        TcpStore store = env.rank() == 0
                ? TcpStore.serve(env.masterPort())
                : TcpStore.connect(env.masterAddr(), env.masterPort(), timeout);
        try {
            String me = "rank/" + env.rank();
            long seen = store.add("joined/" + env.rank(), 1);
            if (seen > 1) {
                throw new DistException("rendezvous at " + env.masterAddr() + ":" + env.masterPort() + ": rank "
                        + env.rank() + " joined twice (two processes were started with RANK=" + env.rank() + ")");
            }
            store.set(
                    me,
                    env.worldSize() + " " + host() + " "
                            + ProcessHandle.current().pid());
            List<String> keys = new ArrayList<>();
            for (int r = 0; r < env.worldSize(); r++) {
                keys.add("rank/" + r);
            }
            List<String> missing = store.waitFor(keys, timeout);
            if (!missing.isEmpty()) {
                List<Integer> m = missing.stream()
                        .map(k -> Integer.parseInt(k.substring(5)))
                        .toList();
                List<Integer> joined = new ArrayList<>();
                for (int r = 0; r < env.worldSize(); r++) {
                    if (!m.contains(r)) {
                        joined.add(r);
                    }
                }
                throw new DistTimeoutException("rendezvous at " + env.masterAddr() + ":" + env.masterPort() + " (rank "
                        + env.rank() + "): rank(s) " + m + " of " + env.worldSize() + " did not join within "
                        + TcpStore.seconds(timeout) + " (joined: " + joined + ")");
            }
            for (int r = 0; r < env.worldSize(); r++) {
                String[] info = store.getString("rank/" + r, timeout).split(" ");
                if (Integer.parseInt(info[0]) != env.worldSize()) {
                    throw new DistException("rendezvous: rank " + r + " (" + info[1] + ", pid " + info[2]
                            + ") was started with world size " + info[0] + " but rank " + env.rank() + " with "
                            + env.worldSize());
                }
            }
            return store;
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
    }

    /**
     * Waits until every rank has reached {@code name} (a barrier through the store; for shutting down without
     * closing rank 0's store under the others).
     */
    public static void barrier(TcpStore store, DistEnv env, String name, Duration timeout) {
        store.set("barrier/" + name + "/" + env.rank(), "1");
        List<String> keys = new ArrayList<>();
        for (int r = 0; r < env.worldSize(); r++) {
            keys.add("barrier/" + name + "/" + r);
        }
        List<String> missing = store.waitFor(keys, timeout);
        if (!missing.isEmpty()) {
            throw new DistTimeoutException("barrier '" + name + "' (rank " + env.rank() + "): " + missing.size()
                    + " rank(s) did not arrive within " + TcpStore.seconds(timeout) + ": " + missing);
        }
        // Second phase: rank 0 hosts the store, so it leaves only after every rank has seen the barrier complete;
        // otherwise a rank still polling would lose its connection when rank 0 exits.
        if (env.rank() != 0) {
            try {
                store.set("barrier/" + name + "/left/" + env.rank(), "1");
            } catch (DistException e) {
                // The store may close between storing this last key and acknowledging it: rank 0 leaves as soon as it
                // has seen every "left" key. (Had rank 0 failed instead, its own exit status reports it.)
            }
            return;
        }
        List<String> left = new ArrayList<>();
        for (int r = 1; r < env.worldSize(); r++) {
            left.add("barrier/" + name + "/left/" + r);
        }
        List<String> stillIn = store.waitFor(left, timeout);
        if (!stillIn.isEmpty()) {
            throw new DistTimeoutException("barrier '" + name + "' (rank 0): " + stillIn.size()
                    + " rank(s) did not confirm leaving within " + TcpStore.seconds(timeout) + ": " + stillIn);
        }
    }

    private static String host() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (Exception e) {
            return ManagementFactory.getRuntimeMXBean().getName();
        }
    }
}
