package fulgur.train;

import fulgur.io.AtomicFiles;
import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Line2D;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Draws loss curves (x = step, y = loss; typically a train and a validation series) into a PNG image, with axes,
 * tick labels, grid, legend and title. Uses Java2D only, in headless mode: the class sets the system property
 * {@code java.awt.headless=true} before touching AWT, unless the property was already set.
 *
 * <p>Points whose value is NaN or infinite (or {@code <= 0} on a log scale) are skipped: the curve connects their
 * neighbours. Series may have different lengths and steps (a validation series usually has far fewer points);
 * series with few points, and single points, are drawn with markers. An empty plot (no drawable point) still renders
 * axes and says "no data".
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
    private static final Color GRID = new Color(0xe3e3e3);
    private static final Color AXIS = new Color(0x444444);
    private static final Color TEXT = new Color(0x222222);

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
                throw new IllegalArgumentException("series '" + name + "': " + steps.length + " steps but "
                        + values.length + " values");
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
            return o instanceof Series s && name.equals(s.name) && Arrays.equals(steps, s.steps)
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
     * @param width     image width in pixels, at least 200
     * @param height    image height in pixels, at least 150
     * @param logY      logarithmic y axis (non-positive values are then skipped)
     * @param smoothing TensorBoard-style exponential smoothing weight in {@code [0, 1)}: when {@code > 0}, series
     *                  with more than {@link #MARKER_MAX_POINTS} points are drawn faintly as they are, with the
     *                  (debiased) moving average {@code s = w * s + (1 - w) * x} drawn on top
     * @param xLabel    the x-axis label
     * @param yLabel    the y-axis label
     */
    public record Options(int width, int height, boolean logY, double smoothing, String xLabel, String yLabel) {
        /** 1000 x 600, linear y, no smoothing, axes "step" and "loss". */
        public static final Options DEFAULT = new Options(1000, 600, false, 0.0, "step", "loss");

        public Options {
            if (width < 200 || height < 150) {
                throw new IllegalArgumentException("plot size must be at least 200x150, got " + width + "x" + height);
            }
            if (!(smoothing >= 0 && smoothing < 1)) {
                throw new IllegalArgumentException("smoothing must be in [0, 1), got " + smoothing);
            }
            xLabel = xLabel == null ? "" : xLabel;
            yLabel = yLabel == null ? "" : yLabel;
        }

        public Options withSize(int width, int height) {
            return new Options(width, height, logY, smoothing, xLabel, yLabel);
        }

        public Options withLogY(boolean logY) {
            return new Options(width, height, logY, smoothing, xLabel, yLabel);
        }

        public Options withSmoothing(double smoothing) {
            return new Options(width, height, logY, smoothing, xLabel, yLabel);
        }

        public Options withLabels(String xLabel, String yLabel) {
            return new Options(width, height, logY, smoothing, xLabel, yLabel);
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
            out.add(new Series(split, st.stream().mapToLong(Long::longValue).toArray(),
                    va.stream().mapToDouble(Double::doubleValue).toArray()));
        }
        return out;
    }

    // ---------------------------------------------------------------------------------------------------------
    // rendering

    /** Renders the plot into a new RGB image of {@code options.width() x options.height()} pixels. */
    public static BufferedImage render(String title, List<Series> series, Options options) {
        Objects.requireNonNull(series, "series");
        Objects.requireNonNull(options, "options");
        int w = options.width();
        int h = options.height();
        boolean logY = options.logY();
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
            g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, w, h);

            double scale = Math.min(w / 1000.0, h / 600.0);
            Font titleFont = new Font(Font.SANS_SERIF, Font.BOLD, (int) Math.max(12, Math.round(20 * scale)));
            Font labelFont = new Font(Font.SANS_SERIF, Font.PLAIN, (int) Math.max(10, Math.round(15 * scale)));
            Font tickFont = new Font(Font.SANS_SERIF, Font.PLAIN, (int) Math.max(9, Math.round(13 * scale)));

            // ---- data ranges
            double[] b = dataBounds(series, logY);
            boolean empty = b == null;
            double xMin;
            double xMax;
            double yMin;
            double yMax;
            if (empty) {
                xMin = 0;
                xMax = 1;
                yMin = logY ? 1 : 0;
                yMax = logY ? 10 : 1;
            } else {
                xMin = b[0];
                xMax = b[1];
                yMin = b[2];
                yMax = b[3];
                if (xMin == xMax) {
                    xMin -= 1;
                    xMax += 1;
                } else {
                    double pad = 0.02 * (xMax - xMin);
                    xMin -= pad;
                    xMax += pad;
                }
                if (logY) {
                    double lo = Math.log10(yMin);
                    double hi = Math.log10(yMax);
                    double pad = lo == hi ? 0.5 : 0.05 * (hi - lo);
                    yMin = Math.pow(10, lo - pad);
                    yMax = Math.pow(10, hi + pad);
                } else if (yMin == yMax) {
                    double pad = yMin == 0 ? 1 : Math.abs(yMin) * 0.1;
                    yMin -= pad;
                    yMax += pad;
                } else {
                    double pad = 0.05 * (yMax - yMin);
                    yMin -= pad;
                    yMax += pad;
                }
            }

            // ---- layout
            FontMetrics tfm = g.getFontMetrics(tickFont);
            FontMetrics lfm = g.getFontMetrics(labelFont);
            FontMetrics titleFm = g.getFontMetrics(titleFont);
            double[] yTicks = logY ? logTicks(yMin, yMax, Math.max(3, h / 90)) : niceTicks(yMin, yMax,
                    Math.max(3, h / 90), false);
            String[] yTickLabels = new String[yTicks.length];
            double yStep = yTicks.length > 1 ? yTicks[1] - yTicks[0] : 1;
            int maxYLabel = 0;
            for (int i = 0; i < yTicks.length; i++) {
                yTickLabels[i] = logY ? formatLogTick(yTicks[i]) : formatTick(yTicks[i], yStep);
                maxYLabel = Math.max(maxYLabel, tfm.stringWidth(yTickLabels[i]));
            }
            int gap = Math.max(6, (int) Math.round(8 * scale));
            int left = gap * 2 + (options.yLabel().isEmpty() ? 0 : lfm.getHeight()) + maxYLabel + gap;
            int right = Math.max(20, (int) Math.round(30 * scale));
            int top = (title == null || title.isBlank() ? gap * 2 : titleFm.getHeight() + gap * 2);
            int bottom = gap + tfm.getHeight() + (options.xLabel().isEmpty() ? 0 : lfm.getHeight() + gap) + gap;
            int pw = w - left - right;
            int ph = h - top - bottom;
            Mapper map = new Mapper(left, top, pw, ph, xMin, xMax, yMin, yMax, logY);

            // ---- grid and ticks
            double[] xTicks = niceTicks(xMin, xMax, Math.max(2, pw / 110), true);
            double xAxisMax = Math.max(Math.abs(xTicks[0]), Math.abs(xTicks[xTicks.length - 1]));
            g.setStroke(new BasicStroke(1f));
            g.setFont(tickFont);
            for (int i = 0; i < yTicks.length; i++) {
                double py = map.y(yTicks[i]);
                g.setColor(GRID);
                g.draw(new Line2D.Double(left, py, left + pw, py));
                g.setColor(AXIS);
                g.draw(new Line2D.Double(left - 5, py, left, py));
                g.setColor(TEXT);
                g.drawString(yTickLabels[i], left - 8 - tfm.stringWidth(yTickLabels[i]),
                        (float) (py + tfm.getAscent() / 2.0 - 1));
            }
            for (double xt : xTicks) {
                double px = map.x(xt);
                g.setColor(GRID);
                g.draw(new Line2D.Double(px, top, px, top + ph));
                g.setColor(AXIS);
                g.draw(new Line2D.Double(px, top + ph, px, top + ph + 5));
                String label = formatStepTick(xt, xAxisMax);
                g.setColor(TEXT);
                g.drawString(label, (float) (px - tfm.stringWidth(label) / 2.0), top + ph + 7 + tfm.getAscent());
            }
            g.setColor(AXIS);
            g.draw(new Rectangle2D.Double(left, top, pw, ph));

            // ---- labels and title
            g.setFont(labelFont);
            g.setColor(TEXT);
            if (!options.xLabel().isEmpty()) {
                g.drawString(options.xLabel(), left + (pw - lfm.stringWidth(options.xLabel())) / 2f,
                        h - gap - lfm.getDescent());
            }
            if (!options.yLabel().isEmpty()) {
                Graphics2D gr = (Graphics2D) g.create();
                String yl = options.yLabel() + (logY ? " (log scale)" : "");
                gr.translate(gap + lfm.getAscent(), top + (ph + lfm.stringWidth(yl)) / 2.0);
                gr.rotate(-Math.PI / 2);
                gr.drawString(yl, 0, 0);
                gr.dispose();
            }
            if (title != null && !title.isBlank()) {
                g.setFont(titleFont);
                g.drawString(title, (w - titleFm.stringWidth(title)) / 2f, gap + titleFm.getAscent());
            }
            if (empty) {
                g.setFont(labelFont);
                g.setColor(Color.GRAY);
                String msg = "no data";
                g.drawString(msg, left + (pw - lfm.stringWidth(msg)) / 2f, top + ph / 2f);
            }

            // ---- series
            Graphics2D gc = (Graphics2D) g.create();
            gc.clip(new Rectangle2D.Double(left, top, pw, ph));
            float lineWidth = (float) Math.max(1.5, 2.2 * scale);
            double markerR = Math.max(2.5, 3.8 * scale);
            for (int s = 0; s < series.size(); s++) {
                Series ser = series.get(s);
                double[][] pts = drawablePoints(ser, logY);
                if (pts[0].length == 0) {
                    continue;
                }
                Color c = color(s);
                boolean smooth = options.smoothing() > 0 && pts[0].length > MARKER_MAX_POINTS;
                gc.setStroke(new BasicStroke(smooth ? 1f : lineWidth, BasicStroke.CAP_ROUND,
                        BasicStroke.JOIN_ROUND));
                gc.setColor(smooth ? new Color(c.getRed(), c.getGreen(), c.getBlue(), 70) : c);
                gc.draw(polyline(map, pts[0], pts[1]));
                if (smooth) {
                    gc.setStroke(new BasicStroke(lineWidth, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
                    gc.setColor(c);
                    gc.draw(polyline(map, pts[0], ema(pts[1], options.smoothing(), logY)));
                }
                if (pts[0].length <= MARKER_MAX_POINTS) {
                    gc.setColor(c);
                    for (int i = 0; i < pts[0].length; i++) {
                        gc.fill(marker(map.x(pts[0][i]), map.y(pts[1][i]), markerR));
                    }
                }
            }
            gc.dispose();

            // ---- legend
            if (!series.isEmpty()) {
                drawLegend(g, series, tickFont, left, top, pw, lineWidth, markerR);
            }
        } finally {
            g.dispose();
        }
        return img;
    }

    private static void drawLegend(Graphics2D g, List<Series> series, Font font, int left, int top, int pw,
                                   float lineWidth, double markerR) {
        FontMetrics fm = g.getFontMetrics(font);
        int sample = 28;
        int pad = 8;
        int rowH = Math.max(fm.getHeight(), (int) (2 * markerR)) + 4;
        int textW = 0;
        for (Series s : series) {
            textW = Math.max(textW, fm.stringWidth(s.name()));
        }
        int boxW = pad + sample + 8 + textW + pad;
        int boxH = pad + rowH * series.size() + pad - 4;
        int bx = left + pw - boxW - 10;
        int by = top + 10;
        g.setColor(new Color(255, 255, 255, 225));
        g.fillRoundRect(bx, by, boxW, boxH, 8, 8);
        g.setColor(new Color(0xbbbbbb));
        g.setStroke(new BasicStroke(1f));
        g.drawRoundRect(bx, by, boxW, boxH, 8, 8);
        g.setFont(font);
        for (int i = 0; i < series.size(); i++) {
            Series s = series.get(i);
            double cy = by + pad + rowH * i + (rowH - 4) / 2.0;
            g.setColor(color(i));
            g.setStroke(new BasicStroke(lineWidth, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
            g.draw(new Line2D.Double(bx + pad, cy, bx + pad + sample, cy));
            if (drawablePoints(s, false)[0].length <= MARKER_MAX_POINTS) {
                g.fill(marker(bx + pad + sample / 2.0, cy, markerR));
            }
            g.setColor(TEXT);
            g.drawString(s.name(), bx + pad + sample + 8, (float) (cy + fm.getAscent() / 2.0 - 2));
        }
    }

    private static Shape marker(double x, double y, double r) {
        return new Ellipse2D.Double(x - r, y - r, 2 * r, 2 * r);
    }

    private static Path2D polyline(Mapper map, double[] xs, double[] ys) {
        Path2D.Double p = new Path2D.Double();
        p.moveTo(map.x(xs[0]), map.y(ys[0]));
        for (int i = 1; i < xs.length; i++) {
            p.lineTo(map.x(xs[i]), map.y(ys[i]));
        }
        return p;
    }

    /** Debiased exponential moving average (as TensorBoard); on a log axis it averages the logarithms. */
    static double[] ema(double[] ys, double weight, boolean log) {
        double[] out = new double[ys.length];
        double acc = 0;
        double norm = 0;
        for (int i = 0; i < ys.length; i++) {
            double v = log ? Math.log(ys[i]) : ys[i];
            acc = weight * acc + (1 - weight) * v;
            norm = weight * norm + (1 - weight);
            out[i] = log ? Math.exp(acc / norm) : acc / norm;
        }
        return out;
    }

    /** The drawable points of a series sorted by step: {xs, ys}, skipping non-finite (and on log, <= 0) values. */
    static double[][] drawablePoints(Series s, boolean logY) {
        long[] st = s.steps;
        double[] va = s.values;
        Integer[] idx = new Integer[st.length];
        int n = 0;
        for (int i = 0; i < st.length; i++) {
            if (Double.isFinite(va[i]) && (!logY || va[i] > 0)) {
                idx[n++] = i;
            }
        }
        Integer[] order = Arrays.copyOf(idx, n);
        Arrays.sort(order, (a, b) -> Long.compare(st[a], st[b])); // stable
        double[] xs = new double[n];
        double[] ys = new double[n];
        for (int i = 0; i < n; i++) {
            xs[i] = st[order[i]];
            ys[i] = va[order[i]];
        }
        return new double[][] {xs, ys};
    }

    /** {xMin, xMax, yMin, yMax} over the drawable points of all series, or null when there are none. */
    static double[] dataBounds(List<Series> series, boolean logY) {
        double xMin = Double.POSITIVE_INFINITY;
        double xMax = Double.NEGATIVE_INFINITY;
        double yMin = Double.POSITIVE_INFINITY;
        double yMax = Double.NEGATIVE_INFINITY;
        boolean any = false;
        for (Series s : series) {
            for (int i = 0; i < s.steps.length; i++) {
                double v = s.values[i];
                if (!Double.isFinite(v) || (logY && v <= 0)) {
                    continue;
                }
                any = true;
                xMin = Math.min(xMin, s.steps[i]);
                xMax = Math.max(xMax, s.steps[i]);
                yMin = Math.min(yMin, v);
                yMax = Math.max(yMax, v);
            }
        }
        return any ? new double[] {xMin, xMax, yMin, yMax} : null;
    }

    /**
     * "Nice" tick positions (multiples of 1, 2, 2.5 or 5 times a power of ten) inside {@code [lo, hi]}, about
     * {@code target} of them; {@code integral} forces a spacing of at least 1.
     */
    static double[] niceTicks(double lo, double hi, int target, boolean integral) {
        double range = hi - lo;
        if (!(range > 0)) {
            return new double[] {lo};
        }
        double raw = range / Math.max(1, target);
        double mag = Math.pow(10, Math.floor(Math.log10(raw)));
        double f = raw / mag;
        double nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
        double step = nice * mag;
        if (integral) {
            step = Math.max(1, step);
            if (step == 2.5) {
                step = 2;
            }
        }
        long k0 = (long) Math.ceil(lo / step - 1e-9);
        long k1 = (long) Math.floor(hi / step + 1e-9);
        List<Double> ticks = new ArrayList<>();
        for (long k = k0; k <= k1; k++) {
            ticks.add(k * step);
        }
        return ticks.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /**
     * Ticks for a log axis over {@code [lo, hi]} ({@code 0 < lo < hi}): powers of ten if the range spans enough
     * decades, else 1-2-5 or 1..9 times powers of ten, whichever first gives at least two thirds of {@code target}
     * (and at least three) ticks; decades are
     * thinned when there would be far more than {@code target} ticks.
     */
    static double[] logTicks(double lo, double hi, int target) {
        int d0 = (int) Math.floor(Math.log10(lo));
        int d1 = (int) Math.ceil(Math.log10(hi));
        int[][] mantissas = {{1}, {1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
        for (int[] ms : mantissas) {
            List<Double> t = new ArrayList<>();
            for (int d = d0; d <= d1; d++) {
                for (int m : ms) {
                    double v = m * Math.pow(10, d);
                    if (v >= lo * (1 - 1e-12) && v <= hi * (1 + 1e-12)) {
                        t.add(Double.parseDouble(m + "e" + d)); // exact decimal value
                    }
                }
            }
            if (t.size() >= Math.max(3, (2 * target + 2) / 3) || ms.length == 9) {
                if (ms.length == 1 && t.size() > 2 * target) {
                    int every = (int) Math.ceil(t.size() / (double) target);
                    List<Double> thin = new ArrayList<>();
                    for (int i = 0; i < t.size(); i++) {
                        if (i % every == 0) {
                            thin.add(t.get(i));
                        }
                    }
                    t = thin;
                }
                if (t.isEmpty()) { // a range inside one 1..9 gap: fall back to linear ticks
                    return niceTicks(lo, hi, target, false);
                }
                return t.stream().mapToDouble(Double::doubleValue).toArray();
            }
        }
        throw new AssertionError("unreachable");
    }

    /** A linear-axis tick label with just enough decimals for the tick spacing ({@code 2.5}, {@code 0.25}). */
    static String formatTick(double value, double step) {
        int decimals = Math.max(0, (int) -Math.floor(Math.log10(step) + 1e-9));
        BigDecimal s = BigDecimal.valueOf(step).stripTrailingZeros();
        decimals = Math.max(decimals, s.scale());
        if (Math.abs(value) < step * 1e-6) {
            value = 0;
        }
        return BigDecimal.valueOf(value).setScale(Math.min(decimals, 12), RoundingMode.HALF_UP).toPlainString();
    }

    /** A log-axis tick label: plain for 0.001..99999 ({@code 0.02}, {@code 300}), else like {@code 1e-05}. */
    static String formatLogTick(double value) {
        if (value >= 1e-3 && value < 1e5) {
            return BigDecimal.valueOf(value).round(new MathContext(6)).stripTrailingZeros().toPlainString();
        }
        return String.format(Locale.ROOT, "%.0e", value);
    }

    /**
     * A step-axis label, in a unit chosen for the whole axis from its largest tick {@code axisMax}: plain below
     * 10,000 ({@code 500}, {@code 9000}), thousands below 10 million ({@code 5k}, {@code 12.5k}), else millions
     * ({@code 1.5M}); zero is always {@code 0}.
     */
    static String formatStepTick(double value, double axisMax) {
        if (value == 0) {
            return "0";
        }
        double m = Math.abs(axisMax);
        if (m >= 1e7) {
            return BigDecimal.valueOf(value / 1e6).round(new MathContext(6)).stripTrailingZeros()
                    .toPlainString() + "M";
        }
        if (m >= 1e4) {
            return BigDecimal.valueOf(value / 1e3).round(new MathContext(6)).stripTrailingZeros()
                    .toPlainString() + "k";
        }
        return BigDecimal.valueOf(value).round(new MathContext(12)).stripTrailingZeros().toPlainString();
    }

    /** Maps data coordinates to pixels. */
    private record Mapper(int left, int top, int pw, int ph, double xMin, double xMax, double yMin, double yMax,
                          boolean logY) {
        double x(double v) {
            return left + (v - xMin) / (xMax - xMin) * pw;
        }

        double y(double v) {
            double f = logY ? (Math.log10(v) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))
                    : (v - yMin) / (yMax - yMin);
            return top + ph - f * ph;
        }
    }
}
