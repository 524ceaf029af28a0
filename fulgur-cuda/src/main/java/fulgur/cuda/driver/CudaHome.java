package fulgur.cuda.driver;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Where the CUDA toolkit lives: CUDA_HOME, then CUDA_PATH, then /usr/local/cuda. */
public final class CudaHome {
    private CudaHome() {}

    /** Candidate toolkit roots in order of preference (existing or not). */
    public static List<Path> roots() {
        List<Path> r = new ArrayList<>();
        for (String env : new String[] {"CUDA_HOME", "CUDA_PATH"}) {
            String v = System.getenv(env);
            if (v != null && !v.isBlank()) r.add(Path.of(v.trim()));
        }
        r.add(Path.of("/usr/local/cuda"));
        return r;
    }

    /** The include folder holding cuda_bf16.h, if any. */
    public static Optional<Path> includeDir() {
        for (Path root : roots()) {
            for (Path inc : List.of(root.resolve("include"), root.resolve("targets/x86_64-linux/include"))) {
                if (Files.isRegularFile(inc.resolve("cuda_bf16.h"))) return Optional.of(inc);
            }
        }
        return Optional.empty();
    }

    /** Library candidates: the bare sonames first, then the same names under each toolkit root. */
    public static List<String> libraryCandidates(String... sonames) {
        List<String> c = new ArrayList<>(List.of(sonames));
        for (Path root : roots()) {
            for (String sub : new String[] {"lib64", "lib", "targets/x86_64-linux/lib"}) {
                for (String so : sonames) c.add(root.resolve(sub).resolve(so).toString());
            }
        }
        return c;
    }
}
