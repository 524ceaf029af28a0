package fulgur.cli;

import fulgur.dist.launch.Launcher;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(
        name = "launch",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Start the ranks of a distributed job on this node, as torchrun does.",
            "Each process gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT; its output lines are prefixed with [rank R];",
            "if one fails, the others are stopped. A command that is a fulgur subcommand (train, generate, ...) runs in a JVM like this one.",
            "Example: fulgur launch --nproc-per-node 8 train --backend nccl --sp 4 --dp 2 --data corpus.txt"
        })
public final class LaunchCommand implements Callable<Integer> {
    private static final Set<String> SUBCOMMANDS = Set.of("train", "generate", "demo", "bench");

    @Option(
            names = "--nproc-per-node",
            required = true,
            description = "Processes (ranks) to start on this node, e.g. one per GPU.")
    int nprocPerNode;

    @Option(names = "--nnodes", defaultValue = "1", description = "Nodes in the job. Default: ${DEFAULT-VALUE}.")
    int nnodes;

    @Option(
            names = "--node-rank",
            defaultValue = "0",
            description = "This node's index in [0, nnodes). Default: ${DEFAULT-VALUE}.")
    int nodeRank;

    @Option(
            names = "--master-addr",
            defaultValue = "127.0.0.1",
            description = "Host of rank 0 (its rendezvous store). Default: ${DEFAULT-VALUE}.")
    String masterAddr;

    @Option(
            names = "--master-port",
            defaultValue = "0",
            description =
                    "Port of rank 0's rendezvous store (0: a free port, single node only). Default: ${DEFAULT-VALUE}.")
    int masterPort;

    @Option(
            names = "--kill-grace",
            defaultValue = "5",
            description = "Seconds the other ranks get to exit after one failed. Default: ${DEFAULT-VALUE}.")
    int killGrace;

    @Parameters(
            arity = "1..*",
            paramLabel = "COMMAND",
            description = "A fulgur subcommand with its options, or -- and any program.")
    List<String> command = new ArrayList<>();

    @Override
    public Integer call() {
        List<String> cmd =
                SUBCOMMANDS.contains(command.get(0)) ? Launcher.javaCommand(Main.class.getName(), command) : command;
        return Launcher.run(
                new Launcher.Options(
                        nprocPerNode,
                        nnodes,
                        nodeRank,
                        masterAddr,
                        masterPort,
                        cmd,
                        Map.of(),
                        Duration.ofSeconds(killGrace)),
                System.out,
                System.err);
    }
}
