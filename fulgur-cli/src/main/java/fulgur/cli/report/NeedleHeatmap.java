package fulgur.cli.report;

import fulgur.eval.Passkey;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.HeatMapChartBuilder;

/** The depth × length picture of passkey retrieval (XChart heat map, red = lost, green = found) and its text table. */
public final class NeedleHeatmap {
    private NeedleHeatmap() {}

    /** Writes the heat map of {@code cells} as a PNG. */
    public static void write(Path png, String title, List<Passkey.Cell> cells) throws IOException {
        List<Integer> lengths = new ArrayList<>(
                new TreeSet<>(cells.stream().map(Passkey.Cell::length).toList()));
        List<Double> depths = new ArrayList<>(
                new TreeSet<>(cells.stream().map(Passkey.Cell::depth).toList()));
        HeatMapChart chart = new HeatMapChartBuilder()
                .width(120 + 110 * lengths.size())
                .height(140 + 60 * depths.size())
                .title(title)
                .xAxisTitle("context length (tokens)")
                .yAxisTitle("depth of the key")
                .build();
        var st = chart.getStyler();
        st.setChartBackgroundColor(Color.WHITE);
        st.setPlotBackgroundColor(Color.WHITE);
        st.setMin(0);
        st.setMax(100);
        st.setRangeColors(new Color[] {new Color(0xD7301F), new Color(0xFEE08B), new Color(0x1A9850)});
        st.setShowValue(true);
        st.setHeatMapValueDecimalPattern("0");
        List<Number[]> heat = new ArrayList<>();
        for (Passkey.Cell c : cells) {
            heat.add(new Number[] {lengths.indexOf(c.length()), depths.indexOf(c.depth()), 100 * c.accuracy()});
        }
        chart.addSeries(
                "accuracy %",
                lengths.stream().map(NeedleHeatmap::label).toList(),
                depths.stream().map(d -> Math.round(100 * d) + " %").toList(),
                heat);
        Path parent = png.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        BitmapEncoder.saveBitmap(chart, png.toString().replaceFirst("(?i)\\.png$", ""), BitmapEncoder.BitmapFormat.PNG);
    }

    /** A markdown table: one row per depth, one column per length, accuracy in percent. */
    public static String table(List<Passkey.Cell> cells) {
        List<Integer> lengths = new ArrayList<>(
                new TreeSet<>(cells.stream().map(Passkey.Cell::length).toList()));
        List<Double> depths = new ArrayList<>(
                new TreeSet<>(cells.stream().map(Passkey.Cell::depth).toList()));
        StringBuilder b = new StringBuilder("| depth | ");
        b.append(String.join(" | ", lengths.stream().map(NeedleHeatmap::label).toList()))
                .append(" |\n|---|")
                .append("---|".repeat(lengths.size()))
                .append('\n');
        for (double d : depths) {
            b.append("| ").append(Math.round(100 * d)).append(" % |");
            for (int l : lengths) {
                cells.stream()
                        .filter(c -> c.length() == l && c.depth() == d)
                        .findFirst()
                        .ifPresentOrElse(
                                c -> b.append(String.format(" %.0f %% |", 100 * c.accuracy())), () -> b.append(" |"));
            }
            b.append('\n');
        }
        return b.toString();
    }

    static String label(int tokens) {
        if (tokens >= 1 << 20 && tokens % (1 << 20) == 0) {
            return (tokens >> 20) + "M";
        }
        if (tokens >= 1024 && tokens % 1024 == 0) {
            return (tokens >> 10) + "K";
        }
        return Integer.toString(tokens);
    }
}
