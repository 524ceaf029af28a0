package fulgur.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class QuickBenchTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void namesListTheRegisteredBenchmarksInOrder() {
        assertThat(QuickBench.names()).startsWith("peak", "gemm");
    }

    @Test
    void unknownNameListsTheKnownOnes() {
        assertThatThrownBy(() -> QuickBench.run("no-such-bench"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("no-such-bench")
                .hasMessageContaining("peak")
                .hasMessageContaining("gemm");
    }

    @Test
    void registeredBenchmarksRunByName() {
        QuickBench.register(
                "test-constant", () -> List.of(new BenchResult("test-constant", "answer", 42, "units", Map.of())));
        assertThat(QuickBench.names()).contains("test-constant");
        assertThat(QuickBench.run("test-constant"))
                .singleElement()
                .satisfies(r -> assertThat(r.value()).isEqualTo(42.0));
    }

    @Test
    void toJsonIsOneLineOfValidJsonWithNullForNonFiniteValues() throws Exception {
        Map<String, Object> extra = new LinkedHashMap<>();
        extra.put("size", "1024x1024x1024");
        extra.put("m", 1024);
        extra.put("fraction_of_peak", 0.75);
        extra.put("broken", Double.NaN);
        String line = new BenchResult("gemm", "sgemm_gflops", 61.5, "GFLOP/s", extra).toJson();
        assertThat(line).doesNotContain("\n");
        JsonNode node = JSON.readTree(line);
        assertThat(node.get("name").asText()).isEqualTo("gemm");
        assertThat(node.get("metric").asText()).isEqualTo("sgemm_gflops");
        assertThat(node.get("value").asDouble()).isEqualTo(61.5);
        assertThat(node.get("unit").asText()).isEqualTo("GFLOP/s");
        assertThat(node.get("extra").get("m").asInt()).isEqualTo(1024);
        assertThat(node.get("extra").get("fraction_of_peak").asDouble()).isEqualTo(0.75);
        assertThat(node.get("extra").get("broken").isNull()).isTrue();
        assertThat(JSON.readTree(new BenchResult("x", "y", Double.POSITIVE_INFINITY, "u", null).toJson())
                        .get("value")
                        .isNull())
                .isTrue();
    }

    @Test
    void peakReportsAPositiveFigureForAllThreadsAndOne() {
        List<BenchResult> results = QuickBench.run("peak");
        assertThat(results).extracting(BenchResult::metric).containsExactly("fma_peak", "fma_peak_one_thread");
        // one AVX2 core does at least a few GFLOP/s even on a loaded machine
        assertThat(results)
                .allSatisfy(r -> assertThat(r.value()).isGreaterThan(1.0).isLessThan(1e6));
        assertThat(results.getFirst().extra()).containsKeys("threads", "f32_lanes");
    }
}
