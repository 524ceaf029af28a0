package fulgur.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import fulgur.backend.Kernels;
import fulgur.tensor.Device;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * docs/kernels.md lists, per op family, which devices have a registered kernel; here both fulgur-core's and
 * fulgur-cuda's providers are on the class path, so the table must equal the registry (no GPU needed: nothing runs).
 */
class KernelTableTest {

    private static Path doc() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path d = p.resolve("docs/kernels.md");
            if (Files.isRegularFile(d)) return d;
        }
        throw new IllegalStateException(
                "docs/kernels.md not found above " + Path.of("").toAbsolutePath());
    }

    /** interface name → the device kinds its row marks ✓, from the document's first table. */
    private static Map<String, Set<Device.Kind>> table() throws IOException {
        List<String> lines = Files.readAllLines(doc());
        Map<String, Set<Device.Kind>> rows = new LinkedHashMap<>();
        List<String> header = null;
        for (String line : lines) {
            if (!line.startsWith("|")) {
                if (header != null) break;
                continue;
            }
            String[] cells = line.substring(1, line.lastIndexOf('|')).split("\\|");
            for (int i = 0; i < cells.length; i++) cells[i] = cells[i].trim();
            if (header == null) {
                header = List.of(cells);
                continue;
            }
            if (cells[1].startsWith("---") || cells[1].startsWith(":")) continue;
            Set<Device.Kind> kinds = EnumSet.noneOf(Device.Kind.class);
            for (Device.Kind k : Device.Kind.values()) {
                String cell = cells[header.indexOf(k.name().toLowerCase(java.util.Locale.ROOT))];
                assertThat(cell).as(cells[1] + " " + k).isIn("✓", "—");
                if (cell.equals("✓")) kinds.add(k);
            }
            rows.put(cells[1].replace("`", ""), kinds);
        }
        return rows;
    }

    @Test
    void theTableOfKernelsEqualsTheRegistry() throws Exception {
        Map<String, Set<Device.Kind>> rows = table();
        assertThat(rows).isNotEmpty();
        for (var row : rows.entrySet()) {
            Class<?> family = Class.forName(row.getKey());
            assertThat(family.isInterface()).as(row.getKey()).isTrue();
            assertThat(Kernels.kinds(family)).as(row.getKey()).isEqualTo(row.getValue());
        }
        for (Class<?> registered : Kernels.registered().keySet()) {
            assertThat(rows).as("registered but not in docs/kernels.md").containsKey(registered.getName());
        }
    }

    @Test
    void everyFamilyKernelInterfaceHasARow() throws Exception {
        Set<String> interfaces = new TreeSet<>();
        for (JavaClass c : new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("fulgur.ops")) {
            if (c.isInterface()
                    && c.getSimpleName().endsWith("Kernels")
                    && c.getPackageName().startsWith("fulgur.ops")) interfaces.add(c.getName());
        }
        assertThat(interfaces).isNotEmpty();
        assertThat(table().keySet()).containsAll(interfaces);
    }
}
