package fulgur.cli;

import fulgur.avvp.AvvpMetrics;
import java.util.List;
import java.util.Locale;

/** The AVVP F-score table: one row per model or reference, segment- and event-level scores in percent. */
final class AvvpTable {
    private AvvpTable() {}

    record Row(String name, AvvpMetrics.Scores scores) {}

    static String format(List<Row> rows) {
        int w = Math.max(
                24, rows.stream().mapToInt(r -> r.name().length()).max().orElse(0));
        StringBuilder sb = new StringBuilder();
        String head = "  audio visual     AV Type@AV Event@AV";
        sb.append(String.format(
                Locale.ROOT, "%-" + w + "s %7s  %-37s  %-37s%n", "F1 (%)", "", "segment-level", "event-level"));
        sb.append(String.format(Locale.ROOT, "%-" + w + "s %7s %s %s%n", "", "videos", head, head));
        for (Row r : rows) {
            sb.append(String.format(
                    Locale.ROOT,
                    "%-" + w + "s %7d %s %s%n",
                    r.name(),
                    r.scores().videos(),
                    level(r.scores().segment()),
                    level(r.scores().event())));
        }
        return sb.toString();
    }

    private static String level(AvvpMetrics.Level l) {
        return String.format(
                Locale.ROOT,
                "%7.1f%7.1f%7.1f%8.1f%9.1f",
                100 * l.audio(),
                100 * l.visual(),
                100 * l.audioVisual(),
                100 * l.typeAv(),
                100 * l.eventAv());
    }
}
