package fulgur.cli;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** What the runnable jar is built from: the command line's own dependencies. */
class ProductJarTest {

    @Test
    void theBenchmarkHarnessIsNotShipped() {
        assertThatThrownBy(() -> Class.forName("org.openjdk.jmh.annotations.Benchmark"))
                .isInstanceOf(ClassNotFoundException.class);
        assertThatCode(() -> Class.forName("fulgur.bench.QuickBench")).doesNotThrowAnyException();
    }
}
