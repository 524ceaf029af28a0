package fulgur.cli;

import fulgur.bench.BenchResult;
import fulgur.bench.QuickBench;
import fulgur.bench.ServeLoad;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(
        name = "bench",
        mixinStandardHelpOptions = true,
        description = {
            "Quick benchmark figures (JMH runs: java -jar fulgur-bench/target/benchmarks.jar).",
            "Each figure is measured beside its reference in the same run (e.g. GEMM beside this machine's FMA peak)."
        })
public final class BenchCommand implements Callable<Integer> {
    @Parameters(arity = "0..*", paramLabel = "NAME", description = "Benchmarks to run; none lists them.")
    List<String> names = List.of();

    @Option(names = "--json", description = "One JSON object per result on its own line.")
    boolean json;

    @Option(names = "--width", paramLabel = "N", description = "serve: the TNL's width (default 128).")
    Integer width;

    @Option(names = "--layers", paramLabel = "N", description = "serve: the TNL's layers (default 2).")
    Integer layers;

    @Option(names = "--heads", paramLabel = "N", description = "serve: the TNL's attention heads (default 4).")
    Integer heads;

    @Option(
            names = "--levels",
            paramLabel = "N,N,...",
            split = ",",
            description = "serve: concurrent clients of each level (default 1,8,64).")
    List<Integer> levels;

    @Option(
            names = "--rounds",
            paramLabel = "N",
            description = "serve: alternating rounds of the peer and the levels (default 3).")
    Integer rounds;

    @Option(names = "--max-tokens", paramLabel = "N", description = "serve: tokens per request (default 32).")
    Integer maxTokens;

    @Option(
            names = "--requests",
            paramLabel = "N",
            description = "serve: requests per level at least, max(N, 4 × clients) (default 48).")
    Integer requests;

    @Option(
            names = "--no-prefix-cache",
            description = "serve: the engine prefills every prompt (no prefix state cache), as the peer does.")
    boolean noPrefixCache;

    @Override
    public Integer call() {
        if (names.isEmpty()) {
            System.out.println("available benchmarks: " + String.join(", ", QuickBench.names()));
            return 0;
        }
        for (String n : names) {
            if (!QuickBench.names().contains(n)) {
                throw new IllegalArgumentException(
                        "unknown benchmark '" + n + "' (available: " + String.join(", ", QuickBench.names()) + ")");
            }
        }
        ServeLoad.Config serve = serveConfig();
        for (String n : names) {
            List<BenchResult> results = n.equals("serve") && serve != null ? ServeLoad.run(serve) : QuickBench.run(n);
            for (BenchResult r : results) {
                System.out.println(
                        json
                                ? r.toJson()
                                : String.format(
                                        "%-40s %12.3f %-10s %s",
                                        r.name() + " " + r.metric(), r.value(), r.unit(), r.extra()));
            }
        }
        return 0;
    }

    /** The serve benchmark's settings when an option changes them (null: its defaults); refused without serve to run. */
    ServeLoad.Config serveConfig() {
        List<String> given = new ArrayList<>();
        Object[] values = {width, layers, heads, levels, rounds, maxTokens, requests, noPrefixCache ? true : null};
        String[] options = {
            "--width", "--layers", "--heads", "--levels", "--rounds", "--max-tokens", "--requests", "--no-prefix-cache"
        };
        for (int i = 0; i < values.length; i++) {
            if (values[i] != null) {
                given.add(options[i]);
            }
        }
        if (given.isEmpty()) {
            return null;
        }
        if (!names.contains("serve")) {
            throw new IllegalArgumentException(String.join(", ", given) + (given.size() == 1 ? " applies" : " apply")
                    + " only to the serve benchmark");
        }
        ServeLoad.Config c = ServeLoad.Config.defaults();
        c = c.withModel(
                width != null ? width : c.dim(),
                layers != null ? layers : c.layers(),
                heads != null ? heads : c.heads());
        if (levels != null) {
            c = c.withLevels(levels);
        }
        if (rounds != null) {
            c = c.withRounds(rounds);
        }
        if (maxTokens != null) {
            c = c.withMaxTokens(maxTokens);
        }
        if (requests != null) {
            c = c.withRequests(requests);
        }
        return c.withPrefixCache(!noPrefixCache);
    }
}
