package fulgur.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import fulgur.cuda.tools.PrebuildKernels;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** Build-time fatbins: named per module, tied to their source, present for every module when the build had nvcc. */
class FatbinsTest {

    @Test
    void namesAndKeysFollowTheSourceAndDefinitions() {
        assertThat(Fatbins.name("lightning.cu", Map.of("DV", "64", "DK", "128")))
                .isEqualTo("lightning-DK128-DV64");
        assertThat(Fatbins.name("nn.cu", Map.of())).isEqualTo("nn");
        String k = Fatbins.key("src", Map.of("A", "1"));
        assertThat(Fatbins.key("src", Map.of("A", "1"))).isEqualTo(k);
        assertThat(Fatbins.key("src ", Map.of("A", "1"))).isNotEqualTo(k);
        assertThat(Fatbins.key("src", Map.of("A", "2"))).isNotEqualTo(k);
    }

    @Test
    void aFatbinBuiltFromOtherSourceIsIgnored() {
        assertThat(Fatbins.find("nn.cu", Map.of(), "// not the source nn.cu was built from"))
                .isEmpty();
    }

    @Test
    void everyModuleHasACurrentFatbinWhenTheBuildHadNvcc() {
        assumeTrue(
                Fatbins.class.getClassLoader().getResource(Fatbins.ROOT + "nn.sha256") != null,
                "no fatbins built (no nvcc at build time)");
        for (Map<String, String> m : PrebuildKernels.modules()) {
            Map<String, String> defines = new TreeMap<>(m);
            String file = defines.remove("file");
            assertThat(Fatbins.find(file, defines, KernelModule.resource(file)))
                    .as(Fatbins.name(file, defines))
                    .isPresent()
                    .hasValueSatisfying(b -> assertThat(b.length).isGreaterThan(1000));
        }
    }
}
