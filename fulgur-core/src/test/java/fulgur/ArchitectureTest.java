package fulgur;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/**
 * The package structure of fulgur-core, checked on its class files: no package depends on itself through others,
 * and dependencies point down the layers (tensor ← backend ← autograd ← ops ← nn, layers ← models ← train),
 * kernels reaching ops only through the registry.
 */
class ArchitectureTest {
    private static final JavaClasses CORE = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("fulgur");

    private static final String[] ABOVE_OPS = {
        "fulgur.nn..",
        "fulgur.layers..",
        "fulgur.models..",
        "fulgur.optim..",
        "fulgur.train..",
        "fulgur.data..",
        "fulgur.generate..",
        "fulgur.tokenizer..",
        "fulgur.kernels.."
    };

    @Test
    void noPackageDependsOnItselfThroughOthers() {
        slices().matching("fulgur.(**)").should().beFreeOfCycles().check(CORE);
    }

    @Test
    void tensorsKnowNothingAboveThem() {
        noClasses()
                .that()
                .resideInAPackage("fulgur.tensor..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage(
                        "fulgur.backend..",
                        "fulgur.autograd..",
                        "fulgur.ops..",
                        "fulgur.nn..",
                        "fulgur.layers..",
                        "fulgur.models..",
                        "fulgur.optim..",
                        "fulgur.train..",
                        "fulgur.kernels..",
                        "fulgur.data..",
                        "fulgur.io..")
                .check(CORE);
    }

    @Test
    void backendsKnowTensorsOnly() {
        noClasses()
                .that()
                .resideInAPackage("fulgur.backend..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage(concat(ABOVE_OPS, "fulgur.ops..", "fulgur.autograd.."))
                .check(CORE);
    }

    @Test
    void autogradKnowsNoOps() {
        noClasses()
                .that()
                .resideInAPackage("fulgur.autograd..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage(concat(ABOVE_OPS, "fulgur.ops.."))
                .check(CORE);
    }

    @Test
    void opsKnowNoLayersModelsOrTraining() {
        noClasses()
                .that()
                .resideInAPackage("fulgur.ops..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage(ABOVE_OPS)
                .check(CORE);
    }

    @Test
    void layersKnowNoModelsOrTraining() {
        noClasses()
                .that()
                .resideInAnyPackage("fulgur.layers..", "fulgur.nn..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage("fulgur.models..", "fulgur.optim..", "fulgur.train..", "fulgur.kernels..")
                .check(CORE);
    }

    @Test
    void modelsKnowNoTraining() {
        noClasses()
                .that()
                .resideInAPackage("fulgur.models..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage("fulgur.optim..", "fulgur.train..", "fulgur.kernels..")
                .check(CORE);
    }

    @Test
    void kernelsAreReachedThroughTheRegistryOnly() {
        noClasses()
                .that()
                .resideOutsideOfPackage("fulgur.kernels..")
                .should()
                .dependOnClassesThat()
                .resideInAPackage("fulgur.kernels..")
                .check(CORE);
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
