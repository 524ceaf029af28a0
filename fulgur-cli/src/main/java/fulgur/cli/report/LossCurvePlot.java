package fulgur.cli.report;

import fulgur.io.AtomicFiles;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import javax.imageio.ImageIO;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Draws loss curves (x = step, y = loss; typically a train and a validation series) into a PNG image with XChart:
 * axes, tick labels, grid, legend and title, in headless mode (the class sets {@code java.awt.headless=true} before
 * touching AWT, unless the property was already set).
 *
 * <p>Points whose value is NaN or infinite (or {@code <= 0} on a log scale) are skipped: the curve connects their
 * neighbours. Series may have different lengths and steps (a validation series usually has far fewer points);
 * series with few points, and single points, are drawn with markers. A plot without any drawable point still renders
 * its axes.
 *
 * <p>The PNG is written atomically: to a temporary file in the target directory, then renamed over the target, so
 * a reader (or a crash) never sees a half-written image.
 */
public final class LossCurvePlot {

    static {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
    }

    /** Series with at most this many drawable points get a marker at every point. */
    static final int MARKER_MAX_POINTS = 60;

    private static final Color[] PALETTE = {
        new Color(0x1f77b4), // blue
        new Color(0xff7f0e), // orange
        new Color(0x2ca02c), // green
        new Color(0xd62728), // red
        new Color(0x9467bd), // purple
        new Color(0x8c564b), // brown
        new Color(0xe377c2), // pink
        new Color(0x7f7f7f), // grey
        new Color(0xbcbd22), // olive
        new Color(0x17becf), // cyan
    };

    private LossCurvePlot() {}

    /**
     * One curve: {@code values[i]} at {@code steps[i]}. The arrays must have the same length; they are copied.
     * Steps need not be sorted (points are drawn in step order).
     */
    public record Series(String name, long[] steps, double[] values) {
        public Series {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(steps, "steps");
            Objects.requireNonNull(values, "values");
            if (steps.length != values.length) {
                throw new IllegalArgumentException(
                        "series '" + name + "': " + steps.length + " steps but " + values.length + " values");
            }
            steps = steps.clone();
            values = values.clone();
        }

        /** A copy of the steps. */
        @Override
        public long[] steps() {
            return steps.clone();
        }

        /** A copy of the values. */
        @Override
        public double[] values() {
            return values.clone();
        }

        /** Number of points (including non-finite ones). */
        public int size() {
            return steps.length;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Series s
                    && name.equals(s.name)
                    && Arrays.equals(steps, s.steps)
                    && Arrays.equals(values, s.values);
        }

        @Override
        public int hashCode() {
            return Objects.hash(name, Arrays.hashCode(steps), Arrays.hashCode(values));
        }

        @Override
        public String toString() {
            return "Series[" + name + ", " + steps.length + " points]";
        }
    }

    /**
     * Rendering options.
     *
     * @param width  image width in pixels, at least 200
     * @param height image height in pixels, at least 150
     * @param logY   logarithmic y axis (non-positive values are then skipped)
     * @param xLabel the x-axis label
     * @param yLabel the y-axis label
     */
    public record Options(int width, int height, boolean logY, String xLabel, String yLabel) {
        /** 1000 x 600, linear y, axes "step" and "loss". */
        public static final Options DEFAULT = new Options(1000, 600, false, "step", "loss");

        public Options {
            if (width < 200 || height < 150) {
                throw new IllegalArgumentException("plot size must be at least 200x150, got " + width + "x" + height);
            }
            xLabel = xLabel == null ? "" : xLabel;
            yLabel = yLabel == null ? "" : yLabel;
        }

        public Options withSize(int width, int height) {
            return new Options(width, height, logY, xLabel, yLabel);
        }

        public Options withLogY(boolean logY) {
            return new Options(width, height, logY, xLabel, yLabel);
        }

        public Options withLabels(String xLabel, String yLabel) {
            return new Options(width, height, logY, xLabel, yLabel);
        }
    }

    /** The colour of the {@code index}-th series (a ten-colour palette, repeating). */
    public static Color color(int index) {
        return PALETTE[Math.floorMod(index, PALETTE.length)];
    }

    /** {@link #write(Path, String, List, Options)} with {@link Options#DEFAULT}. */
    public static void write(Path png, String title, List<Series> series) throws IOException {
        write(png, title, series, Options.DEFAULT);
    }

    /** Renders the series and writes them atomically as a PNG to {@code png}, creating parent directories. */
    public static void write(Path png, String title, List<Series> series, Options options) throws IOException {
        BufferedImage image = render(title, series, options);
        AtomicFiles.write(png, out -> {
            if (!ImageIO.write(image, "png", out)) {
                throw new IOException("no PNG writer available in javax.imageio");
            }
        });
    }

    /**
     * Plots field {@code field} (e.g. {@code "loss"}) of a {@link MetricsLog} file, one series per {@code split},
     * see {@link #seriesFromMetrics}.
     */
    public static void writeFromMetrics(Path metricsJsonl, Path png, String title, String field, Options options)
            throws IOException {
        write(png, title, seriesFromMetrics(MetricsLog.read(metricsJsonl), field), options);
    }

    /** {@link #writeFromMetrics(Path, Path, String, String, Options)} of the {@code loss} with default options. */
    public static void writeFromMetrics(Path metricsJsonl, Path png, String title) throws IOException {
        writeFromMetrics(metricsJsonl, png, title, MetricsLog.LOSS, Options.DEFAULT);
    }

    /**
     * Builds one series per split (the {@code split} field; events without one go to a series named after the
     * field) from metric events as returned by {@link MetricsLog#read}. Only events with a numeric {@code step} and
     * a numeric (or non-finite, see {@link MetricsLog}) value of {@code field} count. The {@code train} split comes
     * first, the others follow in order of first appearance. If a split's steps go back (a run resumed from an
     * earlier checkpoint without {@link MetricsLog#resume}), the later events win: earlier points at or after the
     * step where the series restarts are dropped.
     */
    public static List<Series> seriesFromMetrics(List<Map<String, Object>> events, String field) {
        Map<String, List<Double>> valuesBySplit = new LinkedHashMap<>();
        Map<String, List<Long>> steps = new LinkedHashMap<>();
        for (Map<String, Object> e : events) {
            if (!(e.get(MetricsLog.STEP) instanceof Number stepNum) || !(e.get(field) instanceof Number value)) {
                continue;
            }
            String split = e.get(MetricsLog.SPLIT) instanceof String s ? s : field;
            long step = stepNum.longValue();
            List<Long> st = steps.computeIfAbsent(split, k -> new ArrayList<>());
            List<Double> va = valuesBySplit.computeIfAbsent(split, k -> new ArrayList<>());
            while (!st.isEmpty() && st.getLast() >= step) { // resumed from an earlier step: later events win
                st.removeLast();
                va.removeLast();
            }
            st.add(step);
            va.add(value.doubleValue());
        }
        List<String> order = new ArrayList<>(steps.keySet());
        if (order.remove("train")) {
            order.addFirst("train");
        }
        List<Series> out = new ArrayList<>();
        for (String split : order) {
            List<Long> st = steps.get(split);
            List<Double> va = valuesBySplit.get(split);
            out.add(new Series(
                    split,
                    st.stream().mapToLong(Long::longValue).toArray(),
                    va.stream().mapToDouble(Double::doubleValue).toArray()));
        }
        return out;
    }

    /** The drawable points of a series in step order: {steps, values} (non-finite values, and non-positive ones on a log scale, dropped). */
    static double[][] points(Series s, boolean logY) {
        Integer[] order = new Integer[s.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        long[] steps = s.steps();
        double[] values = s.values();
        Arrays.sort(order, (a, b) -> Long.compare(steps[a], steps[b]));
        double[] xs = new double[order.length];
        double[] ys = new double[order.length];
        int n = 0;
        for (int i : order) {
            double v = values[i];
            if (Double.isFinite(v) && (!logY || v > 0)) {
                xs[n] = steps[i];
                ys[n] = v;
                n++;
            }
        }
        return new double[][] {Arrays.copyOf(xs, n), Arrays.copyOf(ys, n)};
    }

    /** Renders the plot into a new image of {@code options.width() x options.height()} pixels. */
    public static BufferedImage render(String title, List<Series> series, Options options) {
        Objects.requireNonNull(series, "series");
        Objects.requireNonNull(options, "options");
        XYChart chart = new XYChartBuilder()
                .width(options.width())
                .height(options.height())
                .title(title == null ? "" : title)
                .xAxisTitle(options.xLabel())
                .yAxisTitle(options.yLabel())
                .build();
        var st = chart.getStyler();
        st.setChartBackgroundColor(Color.WHITE);
        st.setPlotBackgroundColor(Color.WHITE);
        st.setLegendPosition(Styler.LegendPosition.InsideNE);
        st.setYAxisLogarithmic(options.logY());
        st.setMarkerSize(8);
        boolean any = false;
        for (int i = 0; i < series.size(); i++) {
            double[][] p = points(series.get(i), options.logY());
            if (p[0].length == 0) {
                continue;
            }
            XYSeries xy = chart.addSeries(series.get(i).name(), p[0], p[1]);
            xy.setLineColor(color(i));
            xy.setMarkerColor(color(i));
            xy.setMarker(p[0].length <= MARKER_MAX_POINTS ? SeriesMarkers.CIRCLE : SeriesMarkers.NONE);
            any = true;
        }
        if (!any) {
            // axes only: an invisible placeholder, since a chart needs a series to lay its axes out
            XYSeries none = chart.addSeries("no data", new double[] {0, 1}, new double[] {options.logY() ? 1 : 0, 1});
            none.setLineColor(new Color(0, 0, 0, 0));
            none.setMarker(SeriesMarkers.NONE);
            none.setShowInLegend(false);
        }
        return BitmapEncoder.getBufferedImage(chart);
    }
}
