package fulgur.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.backend.cpu.Gemm;
import java.lang.foreign.Arena;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link GemmBuilds} loads each build on its own and times both on one shape. */
class GemmBuildsTest {

    @Test
    void aFolderWithoutTheClassesIsRefusedByName(@TempDir Path dir) {
        assertThatThrownBy(() -> GemmBuilds.sgemm(dir))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("no fulgur-core classes in " + dir);
    }

    @Test
    void settingsAreKeyValuePairsAndAreUndoneAfterLoading() throws Exception {
        Path core = Path.of(
                Gemm.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        assertThatThrownBy(() -> GemmBuilds.sgemm(core + "@fulgur.gemm.mb"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("a build's settings are @key=value,...; got 'fulgur.gemm.mb'");
        System.clearProperty("fulgur.gemm.mb");
        assertThat(GemmBuilds.sgemm(core + "@fulgur.gemm.mb=64")).isNotNull();
        assertThat(System.getProperty("fulgur.gemm.mb")).isNull();
    }

    @Test
    void eachBuildRunsInItsOwnLoaderAndBothAreTimed() throws Throwable {
        Path core = Path.of(
                Gemm.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        MethodHandle a = GemmBuilds.sgemm(core), b = GemmBuilds.sgemm(core);
        try (Arena arena = Arena.ofShared()) {
            double[] med = GemmBuilds.compare(arena, GemmQuick.Shape.parse("33x50x17:NT"), a, b, 3, 0);
            assertThat(med[0]).isPositive();
            assertThat(med[1]).isPositive();
        }
    }
}
