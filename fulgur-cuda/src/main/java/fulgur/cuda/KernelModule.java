package fulgur.cuda;

import fulgur.cuda.driver.CudaDriver;
import fulgur.cuda.driver.CudaHome;
import fulgur.cuda.nvrtc.Nvrtc;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A CUDA module built from a {@code .cu} resource under {@code fulgur/cuda/kernels/}: compiled by NVRTC
 * at first use for the device present (e.g. {@code sm_90a} on Hopper) and cached on disk
 * ({@link KernelCache}). Kernels are found by name; their parameter lists are parsed from the source.
 */
public final class KernelModule implements AutoCloseable {
    /** The class-path folder of the kernel sources. */
    public static final String RESOURCE_ROOT = "fulgur/cuda/kernels/";

    private final CudaContext context;
    private final String name;
    private final MemorySegment module;
    private final Map<String, KernelSignature> signatures;
    private final Map<String, Kernel> kernels = new HashMap<>();
    private final boolean fromCache;
    private boolean closed;

    private KernelModule(
            CudaContext context,
            String name,
            MemorySegment module,
            Map<String, KernelSignature> signatures,
            boolean fromCache) {
        this.context = context;
        this.name = name;
        this.module = module;
        this.signatures = signatures;
        this.fromCache = fromCache;
    }

    private static final java.util.regex.Pattern LOCAL_INCLUDE =
            java.util.regex.Pattern.compile("(?m)^\\s*#include\\s+\"([\\w.]+)\"\\s*$");

    /**
     * Reads a kernel source resource (e.g. "lightning.cu"), with its {@code #include "x.cuh"} lines replaced by
     * the resources of those names (NVRTC has no file system to look in).
     *
     * @param file the resource's name
     * @return the expanded source
     * @throws IllegalArgumentException when a resource is missing
     */
    public static String resource(String file) {
        return expandIncludes(file, rawResource(file), new java.util.HashSet<>());
    }

    private static String expandIncludes(String file, String src, java.util.Set<String> seen) {
        java.util.regex.Matcher m = LOCAL_INCLUDE.matcher(src);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            String inc = m.group(1);
            String body = seen.add(inc) ? expandIncludes(inc, rawResource(inc), seen) : "";
            m.appendReplacement(
                    sb,
                    java.util.regex.Matcher.quoteReplacement(
                            "// ---- " + inc + " (included by " + file + ")\n" + body));
        }
        m.appendTail(sb);
        return sb.toString();
    }

    private static String rawResource(String file) {
        String path = RESOURCE_ROOT + file;
        try (InputStream in = KernelModule.class.getClassLoader().getResourceAsStream(path)) {
            if (in == null)
                throw new IllegalArgumentException("kernel source " + path + " not found on the class path");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + path, e);
        }
    }

    /**
     * Compiles (or loads from the cache) resource {@code file} with the given macro definitions.
     *
     * @param ctx the context
     * @param file the resource's name
     * @param defines macro definitions
     * @return the module
     * @throws fulgur.cuda.nvrtc.NvrtcException when compilation fails
     */
    public static KernelModule load(CudaContext ctx, String file, Map<String, String> defines) {
        String source = resource(file);
        var fatbin = Boolean.getBoolean("fulgur.cuda.nvrtcOnly")
                ? java.util.Optional.<byte[]>empty()
                : Fatbins.find(file, defines, source);
        if (fatbin.isPresent()) {
            ctx.bind();
            try {
                return new KernelModule(ctx, file, loadImage(fatbin.get()), KernelSignature.parseAll(source), true);
            } catch (fulgur.cuda.driver.CudaException e) {
                // no code for this GPU in the build-time fatbin (e.g. an architecture below sm_80): compile it here
                if (Boolean.getBoolean("fulgur.cuda.verbose")) {
                    System.err.println("fulgur: build-time fatbin of " + file + " does not load here (" + e.getMessage()
                            + "); using NVRTC");
                }
            }
        }
        return fromSource(ctx, file, source, defines, List.of());
    }

    private static MemorySegment loadImage(byte[] image) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment img = a.allocate(image.length + 1L);
            MemorySegment.copy(image, 0, img, ValueLayout.JAVA_BYTE, 0, image.length);
            return CudaDriver.get().moduleLoadData(img);
        }
    }

    /**
     * Compiles (or loads from the cache) {@code source} for the context's device.
     *
     * @param ctx the context
     * @param name the module's name, for messages
     * @param source the CUDA source
     * @param defines macro definitions
     * @param extraOptions more NVRTC options
     * @return the module
     * @throws IllegalStateException when the source includes CUDA headers and no CUDA include folder is found
     * @throws fulgur.cuda.nvrtc.NvrtcException when compilation fails
     */
    public static KernelModule fromSource(
            CudaContext ctx, String name, String source, Map<String, String> defines, List<String> extraOptions) {
        ctx.bind();
        String arch = ctx.device().arch();
        List<String> options = new ArrayList<>();
        options.add("--gpu-architecture=" + arch);
        options.add("-std=c++17");
        for (Map.Entry<String, String> d : new TreeMap<>(defines).entrySet()) {
            options.add("-D" + d.getKey() + (d.getValue() == null ? "" : "=" + d.getValue()));
        }
        options.addAll(extraOptions);
        List<String> keyOptions = List.copyOf(options);
        boolean needsHeaders = source.contains("#include <cuda") || source.contains("#include <mma");
        Path include = CudaHome.includeDir().orElse(null);
        if (include != null) {
            options.add("-I" + include);
        } else if (needsHeaders) {
            throw new IllegalStateException(
                    "kernel " + name + " includes CUDA headers (cuda_bf16.h) but no CUDA include folder "
                            + "was found: set CUDA_HOME (or CUDA_PATH) to the CUDA toolkit, or install it under /usr/local/cuda");
        }
        Nvrtc nvrtc = Nvrtc.get();
        int[] v = nvrtc.version();
        String compilerVersion = "nvrtc " + v[0] + "." + v[1];
        KernelCache cache = ctx.kernelCache();
        String key = KernelCache.key(source, keyOptions, arch, compilerVersion);
        byte[] image;
        boolean hit;
        var cached = cache.get(key);
        if (cached.isPresent()) {
            image = cached.get();
            hit = true;
        } else {
            long t0 = System.nanoTime();
            Nvrtc.Result r = nvrtc.compile(source, name, options);
            image = r.image();
            hit = false;
            if (Boolean.getBoolean("fulgur.cuda.verbose")) {
                System.err.printf(
                        "fulgur: compiled %s %s for %s in %.1f s%n",
                        name, defines, arch, (System.nanoTime() - t0) / 1e9);
            }
            cache.put(key, image);
        }
        return new KernelModule(ctx, name, loadImage(image), KernelSignature.parseAll(source), hit);
    }

    /** {@return the context it is loaded in} */
    public CudaContext context() {
        return context;
    }

    /** {@return the module's name} */
    public String name() {
        return name;
    }

    /**
     * Whether the binary came from the on-disk cache.
     *
     * @return true when cached
     */
    public boolean fromCache() {
        return fromCache;
    }

    /**
     * The {@code extern "C" __global__} kernel named {@code kernelName}.
     *
     * @param kernelName the name
     * @return the kernel
     * @throws IllegalStateException when the module is closed
     * @throws IllegalArgumentException when there is no such kernel
     */
    public synchronized Kernel kernel(String kernelName) {
        if (closed) throw new IllegalStateException("module " + name + " is closed");
        return kernels.computeIfAbsent(kernelName, k -> {
            KernelSignature sig = signatures.get(k);
            if (sig == null) {
                throw new IllegalArgumentException("module " + name + " has no extern \"C\" __global__ kernel " + k
                        + " (it has " + signatures.keySet() + ")");
            }
            return new Kernel(this, CudaDriver.get().moduleGetFunction(module, k), sig);
        });
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            CudaDriver.get().moduleUnload(module);
        }
    }
}
