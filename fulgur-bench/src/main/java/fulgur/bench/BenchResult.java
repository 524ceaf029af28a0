package fulgur.bench;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * One measured figure of a quick benchmark, e.g. {@code gemm / gflops / 61.2 GFLOP/s} with the size, the peak of
 * the same run and the fraction in {@code extra}.
 *
 * @param name   the benchmark's name in {@link QuickBench#names()}, e.g. {@code "gemm"}
 * @param metric what was measured, e.g. {@code "gflops"} or {@code "fma_peak"}
 * @param value  the figure
 * @param unit   its unit, e.g. {@code "GFLOP/s"}
 * @param extra  parameters and companion figures (sizes, threads, the peak, fraction_of_peak, ...), kept in order
 */
public record BenchResult(String name, String metric, double value, String unit, Map<String, Object> extra) {

    private static final ObjectMapper JSON = new ObjectMapper();

    public BenchResult {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(metric, "metric");
        Objects.requireNonNull(unit, "unit");
        extra = extra == null ? Map.of() : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(extra));
    }

    /** This result as one line of JSON: {@code {"name":..,"metric":..,"value":..,"unit":..,"extra":{..}}}. */
    public String toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", name);
        m.put("metric", metric);
        m.put("value", finiteOrNull(value));
        m.put("unit", unit);
        Map<String, Object> e = new LinkedHashMap<>();
        extra.forEach((k, v) ->
                e.put(k, v instanceof Double d ? finiteOrNull(d) : v instanceof Float f ? finiteOrNull(f) : v));
        m.put("extra", e);
        try {
            return JSON.writeValueAsString(m);
        } catch (JsonProcessingException ex) {
            throw new IllegalStateException("cannot write benchmark result " + name + "/" + metric + " as JSON", ex);
        }
    }

    /** JSON has no NaN or infinities: those become null. */
    private static Object finiteOrNull(double v) {
        return Double.isFinite(v) ? v : null;
    }
}
