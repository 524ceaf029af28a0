package fulgur.cli;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.bench.ServeLoad;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class BenchOptionsTest {

    private static BenchCommand parse(String... args) {
        BenchCommand b = new BenchCommand();
        new CommandLine(b).parseArgs(args);
        return b;
    }

    @Test
    void serveOptionsSetTheModelLevelsRoundsTokensAndRequests() {
        ServeLoad.Config c = parse(
                        "serve",
                        "--width",
                        "512",
                        "--layers",
                        "4",
                        "--heads",
                        "8",
                        "--levels",
                        "1,16,64",
                        "--rounds",
                        "5",
                        "--max-tokens",
                        "24",
                        "--requests",
                        "96",
                        "--no-prefix-cache")
                .serveConfig();
        assertThat(c.dim()).isEqualTo(512);
        assertThat(c.layers()).isEqualTo(4);
        assertThat(c.heads()).isEqualTo(8);
        assertThat(c.levels()).containsExactly(1, 16, 64);
        assertThat(c.rounds()).isEqualTo(5);
        assertThat(c.maxTokens()).isEqualTo(24);
        assertThat(c.minRequests()).isEqualTo(96);
        assertThat(c.prefixCache()).isFalse();
        // what is not given keeps its default
        ServeLoad.Config onlyWidth = parse("serve", "--width", "256").serveConfig();
        ServeLoad.Config d = ServeLoad.Config.defaults();
        assertThat(onlyWidth).isEqualTo(d.withModel(256, d.layers(), d.heads()));
        assertThat(onlyWidth.prefixCache()).isTrue();
        assertThat(parse("serve").serveConfig()).isNull();
    }

    @Test
    void badServeOptionsGiveOneLineAndANonZeroExit() {
        for (List<String> args : List.of(
                List.of("serve", "--width", "100", "--heads", "8"),
                List.of("serve", "--levels", "0,8"),
                List.of("serve", "--levels", "1,100000"),
                List.of("serve", "--rounds", "0"),
                List.of("serve", "--max-tokens", "-3"),
                List.of("serve", "--levels", "eight"),
                List.of("serve", "--width", "wide"),
                List.of("gemm", "--width", "5"),
                List.of("gemm", "--no-prefix-cache"))) {
            CliTest.Run r = CliTest.run(prepend("bench", args));
            assertThat(r.code()).as("%s", args).isNotZero();
            assertThat(r.err().strip())
                    .as("%s", args)
                    .doesNotContain("\n")
                    .doesNotContain("Exception")
                    .isNotEmpty();
        }
        assertThat(CliTest.run("bench", "serve", "--width", "100", "--heads", "8")
                        .err())
                .contains("the width (100) must be a multiple of the heads (8)");
        assertThat(CliTest.run("bench", "serve", "--levels", "0,8").err())
                .contains("concurrency levels must be in [1, 256], got 0");
        assertThat(CliTest.run("bench", "serve", "--levels", "eight").err())
                .contains("--levels")
                .contains("'eight'");
        assertThat(CliTest.run("bench", "gemm", "--width", "512", "--rounds", "2")
                        .err())
                .contains("--width, --rounds apply only to the serve benchmark");
        // a value the serve benchmark would refuse is not what is wrong here
        assertThat(CliTest.run("bench", "gemm", "--width", "5").err())
                .contains("--width applies only to the serve benchmark");
    }

    private static String[] prepend(String first, List<String> rest) {
        String[] a = new String[rest.size() + 1];
        a[0] = first;
        for (int i = 0; i < rest.size(); i++) {
            a[i + 1] = rest.get(i);
        }
        return a;
    }
}
