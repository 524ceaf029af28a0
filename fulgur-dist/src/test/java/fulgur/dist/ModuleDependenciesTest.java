package fulgur.dist;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** fulgur-dist compiles against fulgur-core alone: the nccl backend reaches CUDA through core's DeviceRuntime at run time. */
class ModuleDependenciesTest {

    @Test
    void distributedTrainingDoesNotCompileAgainstTheCudaModule() {
        noClasses()
                .that()
                .resideInAPackage("fulgur.dist..")
                .should()
                .dependOnClassesThat()
                .resideInAPackage("fulgur.cuda..")
                .check(new ClassFileImporter()
                        .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                        .importPackages("fulgur.dist"));
    }
}
