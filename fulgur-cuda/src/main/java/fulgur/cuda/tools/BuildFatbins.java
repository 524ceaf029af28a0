package fulgur.cuda.tools;

import fulgur.cuda.Fatbins;
import fulgur.cuda.KernelModule;
import fulgur.cuda.driver.CudaHome;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Build step (fulgur-cuda's {@code process-classes} phase): compiles every kernel module with {@code nvcc} into a
 * fatbin for sm_80, sm_90a and sm_100 with compute_80 PTX for anything newer or in between, next to the classes
 * (see {@link Fatbins}). Without nvcc it says so and does nothing: NVRTC compiles at first use instead. Up-to-date
 * fatbins (same source hash) are kept. Skip with {@code -Dfulgur.fatbin.skip=true}.
 *
 * <pre>java -cp ... fulgur.cuda.tools.BuildFatbins CLASSES_DIR</pre>
 */
public final class BuildFatbins {
    private BuildFatbins() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: BuildFatbins CLASSES_DIR");
            System.exit(2);
        }
        if (Boolean.getBoolean("fulgur.fatbin.skip")) {
            System.out.println("fulgur-cuda: fatbin build skipped (fulgur.fatbin.skip)");
            return;
        }
        Optional<Path> nvcc = findNvcc();
        Optional<Path> include = CudaHome.includeDir();
        if (nvcc.isEmpty() || include.isEmpty()) {
            System.out.println(
                    "fulgur-cuda: no nvcc (or no CUDA include folder) on this machine; kernels will be compiled by NVRTC at first use");
            return;
        }
        List<String> gencodes = gencodes(nvcc.get());
        Path out = Path.of(args[0]).resolve(Fatbins.ROOT);
        Files.createDirectories(out);
        Path tmp = Files.createTempDirectory("fulgur-fatbin");
        int threads = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        List<Future<String>> jobs = new ArrayList<>();
        long t0 = System.nanoTime();
        for (Map<String, String> m : PrebuildKernels.modules()) {
            String file = m.get("file");
            Map<String, String> defines = new TreeMap<>(m);
            defines.remove("file");
            String source = KernelModule.resource(file);
            String name = Fatbins.name(file, defines);
            String key = Fatbins.key(source, defines);
            Path fatbin = out.resolve(name + ".fatbin");
            Path sha = out.resolve(name + ".sha256");
            if (Files.isRegularFile(fatbin)
                    && Files.isRegularFile(sha)
                    && Files.readString(sha).trim().equals(key)) {
                continue;
            }
            jobs.add(pool.submit(() -> {
                Path src = tmp.resolve(name + ".cu");
                Files.writeString(src, source);
                List<String> cmd = new ArrayList<>(
                        List.of(nvcc.get().toString(), "-fatbin", "-std=c++17", "-O3", "-I" + include.get()));
                defines.forEach((k, v) -> cmd.add("-D" + k + (v == null ? "" : "=" + v)));
                cmd.addAll(gencodes);
                cmd.addAll(List.of("-o", fatbin.toString(), src.toString()));
                Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
                String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                if (p.waitFor() != 0) {
                    throw new IllegalStateException(
                            "nvcc failed for " + name + ":\n" + String.join(" ", cmd) + "\n" + log);
                }
                Files.writeString(sha, key + "\n");
                return name;
            }));
        }
        pool.shutdown();
        List<String> built = new ArrayList<>();
        for (Future<String> f : jobs) {
            built.add(f.get());
        }
        System.out.printf(
                "fulgur-cuda: %d kernel fatbin(s) built with %s (%s) in %.1f s%s%n",
                built.size(),
                nvcc.get(),
                String.join(" ", gencodes),
                (System.nanoTime() - t0) / 1e9,
                built.isEmpty() ? " (all up to date)" : "");
    }

    /** sm_80 and sm_90a code always; sm_100 when this nvcc knows it; PTX of compute_80 for every other GPU. */
    static List<String> gencodes(Path nvcc) throws IOException, InterruptedException {
        List<String> g = new ArrayList<>(
                List.of("-gencode=arch=compute_80,code=sm_80", "-gencode=arch=compute_90a,code=sm_90a"));
        Process p = new ProcessBuilder(nvcc.toString(), "--list-gpu-code")
                .redirectErrorStream(true)
                .start();
        String codes = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor();
        if (codes.contains("sm_100")) {
            g.add("-gencode=arch=compute_100,code=sm_100");
        }
        g.add("-gencode=arch=compute_80,code=compute_80");
        return g;
    }

    static Optional<Path> findNvcc() {
        List<Path> candidates = new ArrayList<>();
        String env = System.getenv("NVCC");
        if (env != null && !env.isBlank()) {
            candidates.add(Path.of(env));
        }
        String path = System.getenv("PATH");
        if (path != null) {
            for (String dir : path.split(java.io.File.pathSeparator)) {
                if (!dir.isEmpty()) {
                    candidates.add(Path.of(dir, "nvcc"));
                }
            }
        }
        for (String var : new String[] {"CUDA_HOME", "CUDA_PATH"}) {
            String v = System.getenv(var);
            if (v != null && !v.isBlank()) {
                candidates.add(Path.of(v, "bin", "nvcc"));
            }
        }
        candidates.add(Path.of("/usr/local/cuda/bin/nvcc"));
        return candidates.stream().filter(Files::isExecutable).findFirst();
    }
}
