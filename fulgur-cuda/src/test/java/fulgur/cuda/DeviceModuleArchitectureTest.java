package fulgur.cuda;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** A device module builds on fulgur-core's tensors, backend and ops (to register kernels), never on what uses them. */
class DeviceModuleArchitectureTest {
    private static final JavaClasses CUDA = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("fulgur.cuda");

    @Test
    void theCudaModuleKnowsOnlyTensorsBackendsAndOps() {
        noClasses()
                .that()
                .resideInAPackage("fulgur.cuda..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage(
                        "fulgur.nn..",
                        "fulgur.layers..",
                        "fulgur.models..",
                        "fulgur.optim..",
                        "fulgur.train..",
                        "fulgur.data..",
                        "fulgur.generate..",
                        "fulgur.tokenizer..",
                        "fulgur.kernels..",
                        "fulgur.dist..",
                        "fulgur.serve..",
                        "fulgur.cli..")
                .check(CUDA);
    }
}
