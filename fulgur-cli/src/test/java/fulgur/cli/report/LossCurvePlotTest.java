package fulgur.cli.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.cli.report.LossCurvePlot.Options;
import fulgur.cli.report.LossCurvePlot.Series;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LossCurvePlotTest {

    @TempDir
    Path dir;

    private static Series train(int n) {
        long[] steps = new long[n];
        double[] values = new double[n];
        for (int i = 0; i < n; i++) {
            steps[i] = (i + 1) * 10L;
            values[i] = 2 + 8 * Math.exp(-i / 40.0) + 0.1 * Math.sin(i);
        }
        return new Series("train", steps, values);
    }

    private static Series val() {
        return new Series("val", new long[] {250, 500, 750, 1000, 1250, 1500, 1750, 2000}, new double[] {
            6.0, 3.9, 3.0, 2.6, 2.4, 2.3, 2.25, 2.2
        });
    }

    /** Pixels within {@code tol} (per channel) of {@code c} in columns [x0, x1). */
    private static int countColour(BufferedImage img, Color c, int x0, int x1, int tol) {
        int n = 0;
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = x0; x < x1; x++) {
                int rgb = img.getRGB(x, y);
                if (Math.abs(((rgb >> 16) & 255) - c.getRed()) <= tol
                        && Math.abs(((rgb >> 8) & 255) - c.getGreen()) <= tol
                        && Math.abs((rgb & 255) - c.getBlue()) <= tol) {
                    n++;
                }
            }
        }
        return n;
    }

    @Test
    void writesAValidPngWithBothSeriesColours() throws IOException {
        Path png = dir.resolve("plots/loss.png"); // parent directory is created
        LossCurvePlot.write(png, "fulgur — loss", List.of(train(200), val()));
        BufferedImage img = ImageIO.read(png.toFile());
        assertThat(img).isNotNull();
        assertThat(img.getWidth()).isEqualTo(Options.DEFAULT.width()).isEqualTo(1000);
        assertThat(img.getHeight()).isEqualTo(Options.DEFAULT.height()).isEqualTo(600);
        // the legend sits at the top right, so colour in the left 60% comes from the curves themselves
        int left = (int) (img.getWidth() * 0.6);
        assertThat(countColour(img, LossCurvePlot.color(0), 0, left, 10)).isGreaterThan(300);
        assertThat(countColour(img, LossCurvePlot.color(1), 0, left, 10)).isGreaterThan(100);
        assertThat(countColour(img, LossCurvePlot.color(2), 0, img.getWidth(), 10))
                .isZero(); // no third series
        // a white background with dark text (title, ticks, labels)
        assertThat(img.getRGB(1, 1) & 0xffffff).isEqualTo(0xffffff);
        assertThat(countColour(img, new Color(0x222222), 0, img.getWidth(), 40)).isGreaterThan(200);
    }

    @Test
    void respectsTheRequestedSizeAndLogScale() throws IOException {
        Path png = dir.resolve("log.png");
        LossCurvePlot.write(
                png,
                "log",
                List.of(train(300), val()),
                Options.DEFAULT.withSize(640, 400).withLogY(true));
        BufferedImage img = ImageIO.read(png.toFile());
        assertThat(img.getWidth()).isEqualTo(640);
        assertThat(img.getHeight()).isEqualTo(400);
        assertThat(countColour(img, LossCurvePlot.color(0), 0, 380, 10)).isGreaterThan(100);
        assertThat(countColour(img, LossCurvePlot.color(1), 0, 380, 10)).isGreaterThan(50);
    }

    @Test
    void drawsASinglePointAsAMarker() {
        BufferedImage img = LossCurvePlot.render(
                "one", List.of(new Series("train", new long[] {5}, new double[] {3.2})), Options.DEFAULT);
        // the point sits at the centre of the plot area (the axis range is padded around it)
        assertThat(countColour(img, LossCurvePlot.color(0), 300, 700, 10)).isGreaterThan(20);
    }

    @Test
    void skipsNonFiniteValuesAndNonPositiveOnesOnALogAxis() {
        Series s = new Series("train", new long[] {0, 10, 20, 30, 40}, new double[] {
            Double.NaN, 4.0, Double.POSITIVE_INFINITY, 2.0, Double.NEGATIVE_INFINITY
        });
        double[][] pts = LossCurvePlot.points(s, false);
        assertThat(pts[0]).containsExactly(10, 30);
        assertThat(pts[1]).containsExactly(4, 2);
        Series withZero = new Series("v", new long[] {5, 50}, new double[] {0.0, 8.0});
        assertThat(LossCurvePlot.points(withZero, false)[0]).containsExactly(5, 50);
        assertThat(LossCurvePlot.points(withZero, true)[0]).containsExactly(50);

        BufferedImage img = LossCurvePlot.render("nan", List.of(s, withZero), Options.DEFAULT.withLogY(true));
        assertThat(countColour(img, LossCurvePlot.color(0), 0, 600, 10)).isGreaterThan(50);
    }

    @Test
    void aSeriesWithoutDrawablePointsGivesAnEmptyPlotWithoutCurves() {
        Series allNaN = new Series("train", new long[] {1, 2}, new double[] {Double.NaN, Double.NaN});
        assertThat(LossCurvePlot.points(allNaN, false)[0]).isEmpty();
        BufferedImage img = LossCurvePlot.render("empty", List.of(allNaN), Options.DEFAULT);
        assertThat(countColour(img, LossCurvePlot.color(0), 0, img.getWidth(), 10))
                .isZero();
        BufferedImage none = LossCurvePlot.render(null, List.of(), Options.DEFAULT.withSize(300, 200));
        assertThat(none.getWidth()).isEqualTo(300);
        assertThat(none.getHeight()).isEqualTo(200);
    }

    @Test
    void unsortedStepsAreDrawnInStepOrder() {
        Series s = new Series("x", new long[] {30, 10, 20}, new double[] {3, 1, 2});
        double[][] pts = LossCurvePlot.points(s, false);
        assertThat(pts[0]).containsExactly(10, 20, 30);
        assertThat(pts[1]).containsExactly(1, 2, 3);
    }

    @Test
    void overwritesAtomicallyWithoutLeavingTemporaryFiles() throws IOException {
        Path png = dir.resolve("loss.png");
        Files.writeString(png, "old content");
        LossCurvePlot.write(png, "t", List.of(val()));
        assertThat(ImageIO.read(png.toFile())).isNotNull();
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("loss.png");
        }
    }

    @Test
    void buildsSeriesPerSplitFromMetricsWithTrainFirstAndLaterEventsWinning() throws IOException {
        Path jsonl = dir.resolve("metrics.jsonl");
        try (MetricsLog log = MetricsLog.open(jsonl)) {
            log.log(100, "val", Map.of("loss", 3.0));
            for (int step = 10; step <= 50; step += 10) {
                log.log(step, "train", Map.of("loss", 5.0 - step / 100.0, "lr", 1e-3));
            }
            log.log(30, "train", Map.of("loss", 9.0)); // resumed from step 20: replaces 30, 40, 50
            log.log(40, "train", Map.of("loss", Double.NaN)); // kept as a (skipped when drawn) NaN point
            log.log(45, "train", Map.of("lr", 1e-4)); // no loss: ignored
            log.log(200, "val", Map.of("loss", 2.0));
            log.log(Map.of("event", "checkpoint")); // no step: ignored
        }
        List<Series> series = LossCurvePlot.seriesFromMetrics(MetricsLog.read(jsonl), "loss");
        assertThat(series).extracting(Series::name).containsExactly("train", "val");
        assertThat(series.get(0).steps()).containsExactly(10, 20, 30, 40);
        assertThat(series.get(0).values())
                .usingComparatorWithPrecision(1e-12)
                .containsExactly(4.9, 4.8, 9.0, Double.NaN);
        assertThat(series.get(1).steps()).containsExactly(100, 200);
        assertThat(series.get(1).values()).containsExactly(3.0, 2.0);

        List<Series> lr = LossCurvePlot.seriesFromMetrics(MetricsLog.read(jsonl), "lr");
        assertThat(lr).hasSize(1);
        // the re-logged events had no lr, so the lr series only restarts at step 45 (dropping step 50)
        assertThat(lr.getFirst().steps()).containsExactly(10, 20, 30, 40, 45);

        Map<String, Object> noSplit = new LinkedHashMap<>();
        noSplit.put("step", 1L);
        noSplit.put("loss", 2.0);
        assertThat(LossCurvePlot.seriesFromMetrics(List.of(noSplit), "loss"))
                .extracting(Series::name)
                .containsExactly("loss");
    }

    @Test
    void writesAPlotStraightFromAMetricsLog() throws IOException {
        Path jsonl = dir.resolve("metrics.jsonl");
        try (MetricsLog log = MetricsLog.open(jsonl)) {
            for (int step = 1; step <= 300; step++) {
                log.log(step, "train", Map.of("loss", 3 + 5 * Math.exp(-step / 50.0)));
                if (step % 50 == 0) {
                    log.log(step, "val", Map.of("loss", 3.2 + 5 * Math.exp(-step / 50.0)));
                }
            }
        }
        Path png = dir.resolve("loss.png");
        LossCurvePlot.writeFromMetrics(jsonl, png, "from jsonl");
        BufferedImage img = ImageIO.read(png.toFile());
        assertThat(img.getWidth()).isEqualTo(1000);
        assertThat(countColour(img, LossCurvePlot.color(0), 0, 600, 10)).isGreaterThan(200);
        assertThat(countColour(img, LossCurvePlot.color(1), 0, 600, 10)).isGreaterThan(50);
    }

    @Test
    void seriesValidatesAndCopiesItsArrays() {
        assertThatThrownBy(() -> new Series("x", new long[] {1, 2}, new double[] {1}))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("2 steps but 1 values");
        long[] steps = {1, 2};
        double[] values = {1, 2};
        Series s = new Series("x", steps, values);
        steps[0] = 99;
        values[0] = 99;
        assertThat(s.steps()).containsExactly(1, 2);
        assertThat(s.values()).containsExactly(1, 2);
        s.steps()[1] = 42;
        assertThat(s.steps()).containsExactly(1, 2);
        assertThat(s).isEqualTo(new Series("x", new long[] {1, 2}, new double[] {1, 2}));
        assertThat(s.size()).isEqualTo(2);
        assertThatThrownBy(() -> Options.DEFAULT.withSize(10, 10)).isInstanceOf(IllegalArgumentException.class);
    }
}
