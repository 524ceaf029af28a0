package fulgur.cli.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ProgressBarTest {

    private static final long MS = 1_000_000L;
    private static final long S = 1_000_000_000L;

    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
    private final AtomicLong clock = new AtomicLong(42 * S); // arbitrary origin: only differences matter

    private String output() {
        return bytes.toString(StandardCharsets.UTF_8).replace(System.lineSeparator(), "\n");
    }

    private void at(double seconds) {
        clock.set(42 * S + Math.round(seconds * S));
    }

    @Test
    void formatsDurations() {
        assertThat(ProgressBar.formatDuration(0)).isEqualTo("0s");
        assertThat(ProgressBar.formatDuration(0.4)).isEqualTo("0s");
        assertThat(ProgressBar.formatDuration(42)).isEqualTo("42s");
        assertThat(ProgressBar.formatDuration(59.4)).isEqualTo("59s");
        assertThat(ProgressBar.formatDuration(60)).isEqualTo("1m00s");
        assertThat(ProgressBar.formatDuration(187)).isEqualTo("3m07s");
        assertThat(ProgressBar.formatDuration(3599)).isEqualTo("59m59s");
        assertThat(ProgressBar.formatDuration(3600)).isEqualTo("1h00m00s");
        assertThat(ProgressBar.formatDuration(3723)).isEqualTo("1h02m03s");
        assertThat(ProgressBar.formatDuration(100_000)).isEqualTo("27h46m40s");
        assertThat(ProgressBar.formatDuration(Double.NaN)).isEqualTo("?");
        assertThat(ProgressBar.formatDuration(Double.POSITIVE_INFINITY)).isEqualTo("?");
        assertThat(ProgressBar.formatDuration(-1)).isEqualTo("?");
    }

    @Test
    void formatsCountsRatesAndMetrics() {
        assertThat(ProgressBar.formatCount(0)).isEqualTo("0.0");
        assertThat(ProgressBar.formatCount(987.6)).isEqualTo("987.6");
        assertThat(ProgressBar.formatCount(999.96)).isEqualTo("1.0k");
        assertThat(ProgressBar.formatCount(12_345)).isEqualTo("12.3k");
        assertThat(ProgressBar.formatCount(999_949)).isEqualTo("999.9k");
        assertThat(ProgressBar.formatCount(999_960)).isEqualTo("1.0M");
        assertThat(ProgressBar.formatCount(4.5e6)).isEqualTo("4.5M");
        assertThat(ProgressBar.formatCount(1.23e9)).isEqualTo("1.2G");
        assertThat(ProgressBar.formatCount(-2500)).isEqualTo("-2.5k");
        assertThat(ProgressBar.formatCount(Double.NaN)).isEqualTo("?");
        assertThat(ProgressBar.formatRate(12_345.6, "tok/s")).isEqualTo("12.3k tok/s");
        assertThat(ProgressBar.formatRate(Double.NaN, "tok/s")).isEqualTo("? tok/s");

        assertThat(ProgressBar.formatMetric(2.31)).isEqualTo("2.3100");
        assertThat(ProgressBar.formatMetric(0.5123456)).isEqualTo("0.5123");
        assertThat(ProgressBar.formatMetric(0.01)).isEqualTo("0.0100");
        assertThat(ProgressBar.formatMetric(3e-4)).isEqualTo("3.000e-04");
        assertThat(ProgressBar.formatMetric(-12.5)).isEqualTo("-12.5000");
        assertThat(ProgressBar.formatMetric(2.5e7)).isEqualTo("2.500e+07");
        assertThat(ProgressBar.formatMetric(0)).isEqualTo("0");
        assertThat(ProgressBar.formatMetric(Double.NaN)).isEqualTo("nan");
        assertThat(ProgressBar.formatMetric(Double.POSITIVE_INFINITY)).isEqualTo("inf");
        assertThat(ProgressBar.formatMetric(Double.NEGATIVE_INFINITY)).isEqualTo("-inf");
    }

    @Test
    void barShape() {
        assertThat(ProgressBar.bar(0, 10)).isEqualTo(">         ");
        assertThat(ProgressBar.bar(0.1, 10)).isEqualTo("=>        ");
        assertThat(ProgressBar.bar(0.55, 10)).isEqualTo("=====>    ");
        assertThat(ProgressBar.bar(0.99, 10)).isEqualTo("=========>");
        assertThat(ProgressBar.bar(1, 10)).isEqualTo("==========");
        assertThat(ProgressBar.bar(7, 4)).isEqualTo("====");
    }

    @Test
    void interactiveModeRedrawsOneLineInPlaceThrottledAndPadded() {
        ProgressBar bar = ProgressBar.builder(100, out)
                .label("train")
                .interactive(true)
                .barWidth(10)
                .redrawIntervalSeconds(0.5)
                .nanoClock(clock::get)
                .build();
        assertThat(bar.interactive()).isTrue();
        // a steady 10 steps/s with 1024 tokens per step: 10.24k tok/s, ETA = remaining / 10
        at(1.0);
        bar.update(10, 10_240, 2.5);
        at(1.1);
        bar.update(11, 11_264, 2.45); // within the redraw interval: not drawn
        at(2.0);
        bar.update(20, 20_480, 2.3);
        at(3.0);
        bar.update(30, 30_720, Double.NaN); // shorter line: padded to wipe the previous one
        at(3.5);
        bar.println("eval: val loss 2.1");
        at(4.0);
        bar.finish();
        bar.finish(); // idempotent

        String l1 = "train 10/100 [=>        ]  10.0% | loss 2.5000 | 10.2k tok/s | 1s<9s";
        String l2 = "train 20/100 [==>       ]  20.0% | loss 2.3000 | 10.2k tok/s | 2s<8s";
        String l3 = "train 30/100 [===>      ]  30.0% | loss nan | 10.2k tok/s | 3s<7s";
        String l4 = "train 30/100 [===>      ]  30.0% | loss nan | 10.2k tok/s | 4s<7s"; // 3.5 s and 4 s both show 4s
        assertThat(output())
                .isEqualTo("\r" + l1
                        + "\r" + l2
                        + "\r" + l3 + "   "
                        + "\r" + " ".repeat(l3.length()) + "\r" + "eval: val loss 2.1\n"
                        + "\r" + l4
                        + "\r" + l4 + "\n"
                        + "train done 30/100 steps in 4s | loss nan | avg 10.2k tok/s\n");
    }

    @Test
    void interactiveAlwaysDrawsTheLastStepAndShowsFullBar() {
        ProgressBar bar = ProgressBar.builder(4, out)
                .interactive(true)
                .barWidth(4)
                .redrawIntervalSeconds(100)
                .nanoClock(clock::get)
                .build();
        at(1);
        bar.update(1, 0, 1.0);
        at(2);
        bar.update(2, 0, 0.9); // throttled
        at(3);
        bar.update(4, 0, 0.8); // last step: always drawn
        assertThat(output())
                .isEqualTo("\r1/4 [=>  ]  25.0% | loss 1.0000 | 1s<3s" + "\r4/4 [====] 100.0% | loss 0.8000 | 3s<0s");
    }

    @Test
    void plainModePrintsEveryNSteps() {
        ProgressBar bar = ProgressBar.builder(100, out)
                .label("train")
                .interactive(false)
                .logEverySteps(20)
                .logEverySeconds(0)
                .nanoClock(clock::get)
                .build();
        assertThat(bar.interactive()).isFalse();
        for (int step = 1; step <= 100; step++) {
            at(step * 0.1);
            Map<String, Number> metrics = new LinkedHashMap<>();
            metrics.put("acc", step / 100.0);
            metrics.put("lr", 3e-4);
            bar.update(step, step * 1000L, 3.0 - step * 0.01, metrics);
        }
        at(10.2);
        bar.finish();
        List<String> lines = output().lines().toList();
        assertThat(output()).doesNotContain("\r");
        assertThat(lines).hasSize(6); // steps 20, 40, 60, 80, 100 and the summary
        assertThat(lines.get(0))
                .isEqualTo(
                        "train step 20/100 (20.0%) | loss 2.8000 acc 0.2000 lr 3.000e-04 | 10.0k tok/s | elapsed 2s | eta 8s");
        assertThat(lines.get(1))
                .isEqualTo(
                        "train step 40/100 (40.0%) | loss 2.6000 acc 0.4000 lr 3.000e-04 | 10.0k tok/s | elapsed 4s | eta 6s");
        assertThat(lines.get(4))
                .isEqualTo(
                        "train step 100/100 (100.0%) | loss 2.0000 acc 1.0000 lr 3.000e-04 | 10.0k tok/s | elapsed 10s"
                                + " | eta 0s");
        assertThat(lines.get(5))
                .isEqualTo("train done 100/100 steps in 10s | loss 2.0000 acc 1.0000 lr 3.000e-04 | avg 10.0k tok/s");
    }

    @Test
    void plainModePrintsEveryNSeconds() {
        ProgressBar bar = ProgressBar.builder(0, out)
                .interactive(false)
                .logEverySeconds(1.0)
                .nanoClock(clock::get)
                .build();
        for (int step = 1; step <= 12; step++) {
            at(step * 0.3);
            bar.update(step, 0, 1.0);
        }
        // 0.3 s per step: printed at 1.2 s (step 4), 2.4 s (step 8), 3.6 s (step 12)
        assertThat(output().lines().toList())
                .containsExactly(
                        "step 4 | loss 1.0000 | elapsed 1s",
                        "step 8 | loss 1.0000 | elapsed 2s",
                        "step 12 | loss 1.0000 | elapsed 4s");
    }

    @Test
    void plainModeWithoutIntervalsPrintsEveryUpdate() {
        ProgressBar bar = ProgressBar.builder(3, out)
                .interactive(false)
                .logEverySeconds(0)
                .logEverySteps(0)
                .nanoClock(clock::get)
                .build();
        for (int step = 1; step <= 3; step++) {
            at(step);
            bar.update(step, 0, 1.0);
        }
        assertThat(output().lines()).hasSize(3);
    }

    @Test
    void unsortedMetricMapsAreShownSortedAndIntegersWithoutDecimals() {
        ProgressBar bar = ProgressBar.builder(0, out)
                .interactive(true)
                .nanoClock(clock::get)
                .build();
        at(61);
        bar.update(7, 0, 2.0, Map.of("zeta", 3, "alpha", 0.25));
        assertThat(output()).isEqualTo("\rstep 7 | loss 2.0000 alpha 0.2500 zeta 3 | 1m01s");
    }

    @Test
    void resumedRunCountsRatesFromTheStartStep() {
        ProgressBar bar = ProgressBar.builder(2000, out)
                .interactive(false)
                .logEverySeconds(0)
                .startStep(1000)
                .startTokens(1_000_000)
                .nanoClock(clock::get)
                .build();
        at(10);
        bar.update(1100, 1_200_000, 1.5); // 100 steps and 200k tokens in 10 s
        assertThat(output())
                .isEqualTo("step 1100/2000 (55.0%) | loss 1.5000 | 20.0k tok/s | elapsed 10s | eta 1m30s\n");
    }

    @Test
    void finishWithoutUpdatesPrintsSummary() {
        ProgressBar bar = ProgressBar.builder(10, out)
                .label("eval")
                .interactive(false)
                .nanoClock(clock::get)
                .build();
        at(0.2);
        bar.close();
        assertThat(output()).isEqualTo("eval done 0/10 steps in 0s\n");
    }

    @Test
    void rejectsMisuse() {
        ProgressBar bar = ProgressBar.builder(10, out)
                .interactive(false)
                .nanoClock(clock::get)
                .build();
        at(1);
        bar.update(5, 100, 1.0);
        assertThatThrownBy(() -> bar.update(4, 100, 1.0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("backwards");
        assertThatThrownBy(() -> bar.update(6, 50, 1.0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("backwards");
        bar.finish();
        assertThatThrownBy(() -> bar.update(7, 200, 1.0)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> ProgressBar.builder(-1, out)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ProgressBar.builder(1, null)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ProgressBar.builder(1, out).barWidth(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ProgressBar.builder(1, out).logEverySeconds(-1))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void renderMethodsDoNotPrint() {
        ProgressBar bar = ProgressBar.builder(10, out)
                .label("x")
                .interactive(true)
                .nanoClock(clock::get)
                .build();
        at(1);
        bar.update(5, 0, 1.0);
        bytes.reset();
        assertThat(bar.renderInteractive()).isEqualTo("x 5/10 [==========>         ]  50.0% | loss 1.0000 | 1s<1s");
        assertThat(bar.renderPlain()).isEqualTo("x step 5/10 (50.0%) | loss 1.0000 | elapsed 1s | eta 1s");
        assertThat(output()).isEmpty();
    }
}
