package fulgur.dist;

import java.util.Map;

/**
 * Where this process sits in a distributed job, read from the environment the way torchrun sets it (RANK,
 * WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT; {@code fulgur launch} sets the same) or, when
 * RANK is absent, from SLURM (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NTASKS_PER_NODE, the first host of
 * SLURM_JOB_NODELIST, MASTER_PORT or a port derived from SLURM_JOB_ID). Without either: a single process.
 *
 * @param rank this process's rank in the job, in [0, worldSize)
 * @param worldSize the number of processes
 * @param localRank its rank on this node, in [0, localWorldSize)
 * @param localWorldSize the processes on this node
 * @param masterAddr the host of rank 0's rendezvous store
 * @param masterPort its TCP port
 * @param source where the values came from, for messages
 */
public record DistEnv(
        int rank, int worldSize, int localRank, int localWorldSize, String masterAddr, int masterPort, String source) {

    /** The port of rank 0's store when nothing sets one (torchrun's default). */
    public static final int DEFAULT_PORT = 29500;

    /**
     * Checks the placement.
     *
     * @throws DistException for a rank outside the world, a local rank outside the node, or a port outside [0, 65535]
     */
    public DistEnv {
        if (worldSize < 1) {
            throw new DistException(source + ": world size must be >= 1, got " + worldSize);
        }
        if (rank < 0 || rank >= worldSize) {
            throw new DistException(
                    source + ": rank " + rank + " is outside [0, " + worldSize + ") (world size " + worldSize + ")");
        }
        if (localWorldSize < 1 || localRank < 0 || localRank >= localWorldSize) {
            throw new DistException(source + ": local rank " + localRank + " is outside [0, " + localWorldSize + ")");
        }
        if (masterPort < 0 || masterPort > 65535) {
            throw new DistException(source + ": master port " + masterPort + " is not a TCP port");
        }
    }

    /**
     * {@return this process's placement, from this process's environment}
     *
     * @throws DistException when the variables are malformed or inconsistent
     */
    public static DistEnv fromEnvironment() {
        return from(System.getenv());
    }

    /**
     * Reads torchrun's variables, else SLURM's, else a single process.
     *
     * @param env the variables
     * @return the placement
     * @throws DistException when the variables are malformed or inconsistent
     */
    public static DistEnv from(Map<String, String> env) {
        if (env.containsKey("RANK") || env.containsKey("WORLD_SIZE")) {
            String src = "torchrun-style environment (RANK/WORLD_SIZE)";
            int world = integer(env, "WORLD_SIZE", null, src);
            int rank = integer(env, "RANK", null, src);
            int localWorld = integer(env, "LOCAL_WORLD_SIZE", env.containsKey("LOCAL_RANK") ? null : world, src);
            int localRank = integer(env, "LOCAL_RANK", env.containsKey("LOCAL_WORLD_SIZE") ? null : rank, src);
            return new DistEnv(
                    rank,
                    world,
                    localRank,
                    localWorld,
                    env.getOrDefault("MASTER_ADDR", "127.0.0.1"),
                    integer(env, "MASTER_PORT", DEFAULT_PORT, src),
                    src);
        }
        if (env.containsKey("SLURM_PROCID")) {
            String src = "SLURM environment";
            int rank = integer(env, "SLURM_PROCID", null, src);
            int world = integer(env, "SLURM_NTASKS", null, src);
            int localRank = integer(env, "SLURM_LOCALID", 0, src);
            int localWorld = env.containsKey("SLURM_NTASKS_PER_NODE")
                    ? firstCount(env.get("SLURM_NTASKS_PER_NODE"), src)
                    : world;
            String nodes = env.getOrDefault("SLURM_JOB_NODELIST", env.get("SLURM_NODELIST"));
            String addr = env.containsKey("MASTER_ADDR")
                    ? env.get("MASTER_ADDR")
                    : nodes != null ? firstHost(nodes) : "127.0.0.1";
            int port = env.containsKey("MASTER_PORT")
                    ? integer(env, "MASTER_PORT", null, src)
                    : env.containsKey("SLURM_JOB_ID")
                            ? 20000
                                    + (int) (Long.parseLong(
                                                    env.get("SLURM_JOB_ID").trim())
                                            % 20000)
                            : DEFAULT_PORT;
            return new DistEnv(rank, world, localRank, localWorld, addr, port, src);
        }
        return new DistEnv(0, 1, 0, 1, "127.0.0.1", DEFAULT_PORT, "single process (no RANK or SLURM_PROCID)");
    }

    /** {@return whether the job has more than one process} */
    public boolean isDistributed() {
        return worldSize > 1;
    }

    private static int integer(Map<String, String> env, String name, Integer def, String src) {
        String v = env.get(name);
        if (v == null || v.isBlank()) {
            if (def == null) {
                throw new DistException(src + ": " + name + " is not set");
            }
            return def;
        }
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new DistException(src + ": " + name + "='" + v + "' is not an integer");
        }
    }

    /** "4(x2),3" → 4. */
    private static int firstCount(String s, String src) {
        String head = s.split(",")[0];
        int paren = head.indexOf('(');
        try {
            return Integer.parseInt((paren >= 0 ? head.substring(0, paren) : head).trim());
        } catch (NumberFormatException e) {
            throw new DistException(src + ": SLURM_NTASKS_PER_NODE='" + s + "' is not understood");
        }
    }

    /**
     * The first host of a SLURM host list: "gpu[01-04,07],cpu1" → "gpu01", "a,b" → "a".
     *
     * @param list the host list
     * @return the first host
     */
    public static String firstHost(String list) {
        String s = list.trim();
        int depth = 0;
        int end = s.length();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '[') {
                depth++;
            } else if (c == ']') {
                depth--;
            } else if (c == ',' && depth == 0) {
                end = i;
                break;
            }
        }
        String first = s.substring(0, end);
        int open = first.indexOf('[');
        if (open < 0) {
            return first;
        }
        String range = first.substring(open + 1, first.indexOf(']', open));
        String start = range.split("[,-]")[0];
        return first.substring(0, open) + start + first.substring(first.indexOf(']', open) + 1);
    }

    /**
     * The environment a launcher gives rank {@code rank} (torchrun's names).
     *
     * @return the variables
     */
    public Map<String, String> asEnvironment() {
        return Map.of(
                "RANK",
                Integer.toString(rank),
                "WORLD_SIZE",
                Integer.toString(worldSize),
                "LOCAL_RANK",
                Integer.toString(localRank),
                "LOCAL_WORLD_SIZE",
                Integer.toString(localWorldSize),
                "MASTER_ADDR",
                masterAddr,
                "MASTER_PORT",
                Integer.toString(masterPort));
    }
}
