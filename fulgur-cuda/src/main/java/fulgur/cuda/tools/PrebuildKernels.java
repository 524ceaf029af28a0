package fulgur.cuda.tools;

import fulgur.cuda.KernelCache;
import fulgur.cuda.KernelModule;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Fills a kernel cache ({@link KernelCache}, the FULGUR_KERNEL_CACHE folder) with cubins built by {@code nvcc} on a
 * machine without a GPU, under the keys {@link KernelModule} computes for NVRTC of the given version, so that a GPU
 * host with that NVRTC loads them instead of compiling at first use. A host whose NVRTC differs misses the cache and
 * compiles as usual (nothing breaks).
 *
 * <pre>java -cp ... fulgur.cuda.tools.PrebuildKernels OUT_DIR [arch=sm_90a] [nvrtc=13.0] [nvcc=nvcc]</pre>
 */
public final class PrebuildKernels {
    private PrebuildKernels() {}

    /** The modules the CUDA backend, the lightning kernels and the op-family kernels (gla, lightnet, lcsm, conv, attention, moe) load. */
    public static List<Map<String, String>> modules() {
        List<Map<String, String>> out = new ArrayList<>();
        for (String f : new String[] {"tensor.cu", "nn.cu", "lightning_generic.cu", "lightning_decode.cu", "util.cu"})
            out.add(Map.of("file", f));
        for (int dk : new int[] {64, 128}) {
            for (int dv : new int[] {64, 128})
                out.add(Map.of("file", "lightning.cu", "DK", Integer.toString(dk), "DV", Integer.toString(dv)));
        }
        for (int d : new int[] {32, 64, 96, 128, 256})
            out.add(Map.of("file", "flash_attn.cu", "HD", Integer.toString(d)));
        for (int d : new int[] {64, 128}) out.add(Map.of("file", "flash_attn_sm90.cu", "HD", Integer.toString(d)));
        out.add(Map.of("file", "moe.cu"));
        for (int dk : new int[] {64, 128}) out.add(Map.of("file", "gla.cu", "DK", Integer.toString(dk)));
        for (String f : new String[] {"gla_aux.cu", "gla_recurrent.cu", "lightnet.cu", "conv.cu"})
            out.add(Map.of("file", f));
        for (int kpt : new int[] {4, 8}) out.add(Map.of("file", "lcsm.cu", "KPT", Integer.toString(kpt)));
        return out;
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        if (args.length < 1) {
            System.err.println("usage: PrebuildKernels OUT_DIR [arch=sm_90a] [nvrtc=13.0] [nvcc=nvcc]");
            System.exit(2);
        }
        Path out = Path.of(args[0]);
        String arch = "sm_90a", nvrtc = "13.0", nvcc = "nvcc";
        for (int i = 1; i < args.length; i++) {
            String[] kv = args[i].split("=", 2);
            switch (kv[0]) {
                case "arch" -> arch = kv[1];
                case "nvrtc" -> nvrtc = kv[1];
                case "nvcc" -> nvcc = kv[1];
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        KernelCache cache = new KernelCache(out);
        Path tmp = Files.createTempDirectory("fulgur-prebuild");
        for (Map<String, String> m : modules()) {
            String file = m.get("file");
            Map<String, String> defines = new TreeMap<>(m);
            defines.remove("file");
            String source = KernelModule.resource(file);
            List<String> options = new ArrayList<>();
            options.add("--gpu-architecture=" + arch);
            options.add("-std=c++17");
            for (Map.Entry<String, String> d : defines.entrySet()) options.add("-D" + d.getKey() + "=" + d.getValue());
            String key = KernelCache.key(source, options, arch, "nvrtc " + nvrtc);
            Path src = tmp.resolve(file);
            Files.writeString(src, source);
            Path cubin = tmp.resolve(key + ".cubin");
            String num = arch.replace("sm_", "");
            List<String> cmd = new ArrayList<>(
                    List.of(nvcc, "-cubin", "-gencode=arch=compute_" + num + ",code=sm_" + num, "-std=c++17"));
            for (Map.Entry<String, String> d : defines.entrySet()) cmd.add("-D" + d.getKey() + "=" + d.getValue());
            cmd.addAll(List.of("-o", cubin.toString(), src.toString()));
            long t0 = System.nanoTime();
            Process p = new ProcessBuilder(cmd).inheritIO().start();
            if (p.waitFor() != 0) throw new IllegalStateException("nvcc failed for " + file + " " + defines);
            cache.put(key, Files.readAllBytes(cubin));
            System.out.printf(
                    "%s %s -> %s (%.1f s)%n", file, defines, key.substring(0, 12), (System.nanoTime() - t0) / 1e9);
        }
    }
}
