package fulgur.cli;

import fulgur.bench.BenchResult;
import fulgur.bench.QuickBench;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Quick benchmark figures (JMH runs: java -jar fulgur-bench/target/benchmarks.jar).",
            "Each figure is measured beside its reference in the same run (e.g. GEMM beside this machine's FMA peak)."})
public final class BenchCommand implements Callable<Integer> {
    @Parameters(arity = "0..*", paramLabel = "NAME", description = "Benchmarks to run; none lists them.")
    List<String> names = List.of();

    @Option(names = "--json", description = "One JSON object per result on its own line.")
    boolean json;

    @Override
    public Integer call() {
        if (names.isEmpty()) {
            System.out.println("available benchmarks: " + String.join(", ", QuickBench.names()));
            return 0;
        }
        for (String n : names) {
            if (!QuickBench.names().contains(n)) {
                throw new IllegalArgumentException("unknown benchmark '" + n + "' (available: " + String.join(", ", QuickBench.names()) + ")");
            }
        }
        for (String n : names) {
            for (BenchResult r : QuickBench.run(n)) {
                System.out.println(json ? r.toJson() : String.format("%-40s %12.3f %-10s %s", r.name() + " " + r.metric(), r.value(), r.unit(), r.extra()));
            }
        }
        return 0;
    }
}
