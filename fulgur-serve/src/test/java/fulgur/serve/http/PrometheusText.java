package fulgur.serve.http;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), for tests: it rejects any line that is
 * not a comment, a HELP/TYPE line or a well-formed sample, samples of undeclared families, and histograms whose
 * buckets are not cumulative or disagree with their count.
 */
final class PrometheusText {
    record Sample(String name, Map<String, String> labels, double value) {}

    private static final String NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
    private static final Pattern TYPE =
            Pattern.compile("# TYPE (" + NAME + ") (counter|gauge|histogram|summary|untyped)");
    private static final Pattern HELP = Pattern.compile("# HELP (" + NAME + ") .*");
    private static final Pattern SAMPLE = Pattern.compile("(" + NAME + ")(\\{(.*)})? (\\S+)( -?\\d+)?");
    private static final Pattern LABEL =
            Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\\\n]|\\\\[\\\\\"n])*)\"(,|$)");

    final Map<String, String> types = new LinkedHashMap<>();
    final List<Sample> samples = new ArrayList<>();

    static PrometheusText parse(String text) {
        PrometheusText p = new PrometheusText();
        if (!text.endsWith("\n")) {
            throw new IllegalArgumentException("the exposition must end with a line feed");
        }
        for (String line : text.split("\n")) {
            if (line.isEmpty()) {
                continue;
            }
            Matcher m;
            if ((m = TYPE.matcher(line)).matches()) {
                if (p.types.put(m.group(1), m.group(2)) != null) {
                    throw new IllegalArgumentException("TYPE given twice for " + m.group(1));
                }
            } else if (HELP.matcher(line).matches()
                    || line.startsWith("# ") && !line.startsWith("# TYPE") && !line.startsWith("# HELP")) {
                continue;
            } else if ((m = SAMPLE.matcher(line)).matches()) {
                String name = m.group(1);
                if (p.family(name) == null) {
                    throw new IllegalArgumentException("sample of an undeclared family: " + line);
                }
                p.samples.add(new Sample(name, labels(m.group(3), line), value(m.group(4), line)));
            } else {
                throw new IllegalArgumentException("not a valid line: " + line);
            }
        }
        p.checkHistograms();
        return p;
    }

    private String family(String sample) {
        if (types.containsKey(sample)) {
            return sample;
        }
        for (String suffix : List.of("_bucket", "_sum", "_count", "_total", "_created")) {
            if (sample.endsWith(suffix) && types.containsKey(sample.substring(0, sample.length() - suffix.length()))) {
                return sample.substring(0, sample.length() - suffix.length());
            }
        }
        return null;
    }

    private static Map<String, String> labels(String s, String line) {
        Map<String, String> out = new LinkedHashMap<>();
        if (s == null || s.isEmpty()) {
            return out;
        }
        Matcher m = LABEL.matcher(s);
        int at = 0;
        while (at < s.length()) {
            if (!m.find(at) || m.start() != at) {
                throw new IllegalArgumentException("bad labels in: " + line);
            }
            out.put(m.group(1), m.group(2));
            at = m.end();
        }
        return out;
    }

    private static double value(String v, String line) {
        return switch (v) {
            case "+Inf" -> Double.POSITIVE_INFINITY;
            case "-Inf" -> Double.NEGATIVE_INFINITY;
            case "NaN" -> Double.NaN;
            default -> {
                try {
                    yield Double.parseDouble(v);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("bad value in: " + line);
                }
            }
        };
    }

    private void checkHistograms() {
        types.forEach((family, type) -> {
            if (!type.equals("histogram")) {
                return;
            }
            Map<Map<String, String>, List<Sample>> buckets = new HashMap<>();
            for (Sample s : samples) {
                if (s.name().equals(family + "_bucket")) {
                    Map<String, String> key = new HashMap<>(s.labels());
                    key.remove("le");
                    buckets.computeIfAbsent(key, k -> new ArrayList<>()).add(s);
                }
            }
            buckets.forEach((key, bs) -> {
                double le = Double.NEGATIVE_INFINITY;
                double count = 0;
                for (Sample b : bs) {
                    double bound = value(b.labels().get("le"), b.toString());
                    if (!(bound > le) || b.value() < count) {
                        throw new IllegalArgumentException(family + ": buckets not increasing and cumulative");
                    }
                    le = bound;
                    count = b.value();
                }
                if (le != Double.POSITIVE_INFINITY || count != value(family + "_count", key)) {
                    throw new IllegalArgumentException(family + ": the +Inf bucket must exist and equal _count");
                }
                value(family + "_sum", key);
            });
        });
    }

    /** The value of the one sample with this name and exactly these labels. */
    double value(String name, Map<String, String> labels) {
        List<Sample> found = samples.stream()
                .filter(s -> s.name().equals(name) && s.labels().equals(labels))
                .toList();
        if (found.size() != 1) {
            throw new IllegalArgumentException("expected one sample " + name + labels + ", found " + found.size());
        }
        return found.getFirst().value();
    }

    double value(String name) {
        return value(name, Map.of());
    }
}
