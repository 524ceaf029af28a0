package fulgur.cli;

import fulgur.dist.co2.Co2Config;
import fulgur.dist.local.Link;
import fulgur.dist.sp.SpAlgorithm;
import picocli.CommandLine.Option;

/** Distributed-training options of train. */
final class ParallelOptions {
    @Option(
            names = "--sp",
            defaultValue = "1",
            description =
                    "Sequence-parallel size: each sequence is split over this many ranks. Default: ${DEFAULT-VALUE}.")
    int sp;

    @Option(
            names = "--dp",
            defaultValue = "1",
            description = "Data-parallel size: each batch is split over this many replicas. Default: ${DEFAULT-VALUE}.")
    int dp;

    @Option(
            names = "--sp-algo",
            defaultValue = "lasp2",
            description =
                    "Sequence parallelism for lightning layers: lasp2 (one all-gather of states per layer) or lasp (ring). Default: ${DEFAULT-VALUE}.")
    String spAlgo;

    @Option(
            names = "--backend",
            defaultValue = "local",
            description =
                    "Communication: local (all ranks as threads of this process, CPU) or nccl (one process per rank, started by 'fulgur launch'). Default: ${DEFAULT-VALUE}.")
    String backend;

    @Option(
            names = "--dist-timeout",
            defaultValue = "300",
            description = "Seconds a rank may wait for the others before the run fails. Default: ${DEFAULT-VALUE}.")
    int timeoutSeconds;

    @Option(
            names = "--bucket-mb",
            defaultValue = "4",
            description = "Gradient all-reduce bucket size in MiB. Default: ${DEFAULT-VALUE}.")
    double bucketMb;

    @Option(
            names = "--ep",
            defaultValue = "1",
            description =
                    "Expert parallelism: each MoE layer's experts are split over this many ranks, which take different rows of the batch (ranks = dp × ep × sp). Default: ${DEFAULT-VALUE}.")
    int ep;

    @Option(
            names = "--zero",
            defaultValue = "0",
            description =
                    "ZeRO: 1 shards the optimizer states over the ranks, 2 the gradients too; checkpoints are the unsharded files. Default: ${DEFAULT-VALUE} (off).")
    int zero;

    @Option(
            names = "--dp-algo",
            defaultValue = "sync",
            description =
                    "Data parallelism: sync (gradients summed every step) or co2 (each replica takes its own steps; parameters averaged every --co2-tau steps behind the computation). Default: ${DEFAULT-VALUE}.")
    String dpAlgo;

    @Option(names = "--co2-tau", description = "CO2: inner steps per outer round. Default: 12.")
    Integer co2Tau;

    @Option(names = "--co2-outer-lr", description = "CO2: outer learning rate α. Default: 1.")
    Double co2OuterLr;

    @Option(names = "--co2-outer-momentum", description = "CO2: outer momentum β. Default: 0.2.")
    Double co2OuterMomentum;

    @Option(
            names = "--co2-clip",
            description = "CO2: clamp each element of the outer momentum to [-φ, φ]; 0 is off. Default: 0.")
    Double co2Clip;

    @Option(
            names = "--co2-penalty",
            description =
                    "CO2: staleness gap penalty Λ ≥ 1 dividing each round's pseudo-gradient; 1 is none. Default: 1.")
    Double co2Penalty;

    @Option(
            names = "--co2-staleness",
            description =
                    "CO2: 1 consumes a round's average one round later, behind the next round's computation; 0 waits for it at once. Default: 1.")
    Integer co2Staleness;

    @Option(
            names = "--local-link-gbps",
            defaultValue = "0",
            description =
                    "Local backend: simulate a link of this many Gbit/s between the ranks (0: unlimited), for benchmarks. Default: ${DEFAULT-VALUE}.")
    double linkGbps;

    @Option(
            names = "--local-link-latency-us",
            defaultValue = "0",
            description =
                    "Local backend: add this many µs to every transfer, for benchmarks. Default: ${DEFAULT-VALUE}.")
    double linkLatencyUs;

    boolean distributed() {
        return sp * dp * ep > 1 || !backend.equals("local");
    }

    /** Ranks of the run: dp × ep × sp. */
    int world() {
        return sp * dp * ep;
    }

    /** The CO2 settings, or null for synchronous data parallelism. */
    Co2Config co2() {
        if (!dpAlgo.equals("co2")) {
            return null;
        }
        Co2Config d = Co2Config.defaults();
        return new Co2Config(
                co2Tau != null ? co2Tau : d.tau(),
                co2OuterLr != null ? co2OuterLr : d.outerLr(),
                co2OuterMomentum != null ? co2OuterMomentum : d.momentum(),
                co2Clip != null ? co2Clip : d.clip(),
                co2Penalty != null ? co2Penalty : d.penalty(),
                co2Staleness != null ? co2Staleness : d.staleness());
    }

    /** The local backend's simulated link. */
    Link link() {
        return Link.of(linkGbps, linkLatencyUs);
    }

    SpAlgorithm algorithm() {
        return SpAlgorithm.parse(spAlgo);
    }

    long bucketElements() {
        return Math.max(1, (long) (bucketMb * (1 << 20) / 4));
    }

    void validate() {
        if (sp < 1 || dp < 1) {
            throw new IllegalArgumentException("--sp and --dp must be >= 1 (got --sp " + sp + ", --dp " + dp + ")");
        }
        if (!backend.equals("local") && !backend.equals("nccl")) {
            throw new IllegalArgumentException("unknown --backend '" + backend + "' (expected local or nccl)");
        }
        if (timeoutSeconds < 1) {
            throw new IllegalArgumentException("--dist-timeout must be >= 1 second");
        }
        algorithm();
        if (ep < 1) {
            throw new IllegalArgumentException("--ep must be >= 1 (got " + ep + ")");
        }
        if (zero < 0 || zero > 2) {
            throw new IllegalArgumentException(
                    "--zero must be 0 (off), 1 (optimizer states) or 2 (optimizer states and gradients), got " + zero);
        }
        if (!dpAlgo.equals("sync") && !dpAlgo.equals("co2")) {
            throw new IllegalArgumentException("unknown --dp-algo '" + dpAlgo + "' (expected sync or co2)");
        }
        boolean co2Flags = co2Tau != null
                || co2OuterLr != null
                || co2OuterMomentum != null
                || co2Clip != null
                || co2Penalty != null
                || co2Staleness != null;
        if (co2Flags && !dpAlgo.equals("co2")) {
            throw new IllegalArgumentException("--co2-* settings need --dp-algo co2");
        }
        if (dpAlgo.equals("co2")) {
            co2();
            if (dp < 2) {
                throw new IllegalArgumentException(
                        "--dp-algo co2 averages data-parallel replicas: it needs --dp of at least 2 (got " + dp + ")");
            }
            if (zero != 0) {
                throw new IllegalArgumentException(
                        "--zero shards the optimizer of synchronous data parallelism; CO2 keeps one optimizer per replica (drop --zero or --dp-algo co2)");
            }
            if (ep > 1) {
                throw new IllegalArgumentException(
                        "--ep with --dp-algo co2 is not supported: CO2 averages whole replicas, but expert parallelism spreads one replica's experts over several ranks");
            }
        }
        if (zero != 0 && ep > 1) {
            throw new IllegalArgumentException(
                    "--zero with --ep is not supported: ZeRO shards replicated parameters over the whole world, but experts are held by their expert-parallel ranks only");
        }
        if (linkGbps != 0 || linkLatencyUs != 0) {
            if (!backend.equals("local")) {
                throw new IllegalArgumentException(
                        "--local-link-gbps and --local-link-latency-us simulate a link between the local backend's ranks; a real --backend "
                                + backend + " has its own");
            }
            link();
        }
    }
}
