package fulgur.cli;

import fulgur.dist.sp.SpAlgorithm;
import picocli.CommandLine.Option;

/** Distributed-training options of train. */
final class ParallelOptions {
    @Option(names = "--sp", defaultValue = "1", description = "Sequence-parallel size: each sequence is split over this many ranks. Default: ${DEFAULT-VALUE}.")
    int sp;

    @Option(names = "--dp", defaultValue = "1", description = "Data-parallel size: each batch is split over this many replicas. Default: ${DEFAULT-VALUE}.")
    int dp;

    @Option(names = "--sp-algo", defaultValue = "lasp2", description = "Sequence parallelism for lightning layers: lasp2 (one all-gather of states per layer) or lasp (ring). Default: ${DEFAULT-VALUE}.")
    String spAlgo;

    @Option(names = "--backend", defaultValue = "local", description = "Communication: local (all ranks as threads of this process, CPU) or nccl (one process per rank, started by 'fulgur launch'). Default: ${DEFAULT-VALUE}.")
    String backend;

    @Option(names = "--dist-timeout", defaultValue = "300", description = "Seconds a rank may wait for the others before the run fails. Default: ${DEFAULT-VALUE}.")
    int timeoutSeconds;

    @Option(names = "--bucket-mb", defaultValue = "4", description = "Gradient all-reduce bucket size in MiB. Default: ${DEFAULT-VALUE}.")
    double bucketMb;

    boolean distributed() {
        return sp * dp > 1 || !backend.equals("local");
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
    }
}
