package fulgur.cuda.nvrtc;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import fulgur.backend.NativeLibraries;
import fulgur.cuda.driver.CudaHome;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;

/**
 * FFM bindings to NVRTC (libnvrtc.so.13, falling back to .12; override with FULGUR_LIBNVRTC).
 * {@link #compile} turns CUDA C++ source into a CUBIN (for an {@code sm_XY} target) or PTX.
 */
public final class Nvrtc {
    public static final String ENV = "FULGUR_LIBNVRTC";
    private static volatile Nvrtc instance;

    private final NativeLibraries.Library lib;
    private final MethodHandle nvrtcVersion,
            nvrtcGetErrorString,
            nvrtcCreateProgram,
            nvrtcCompileProgram,
            nvrtcGetProgramLogSize,
            nvrtcGetProgramLog,
            nvrtcGetCUBINSize,
            nvrtcGetCUBIN,
            nvrtcGetPTXSize,
            nvrtcGetPTX,
            nvrtcDestroyProgram;

    /** The result of a compilation: the binary image (CUBIN or PTX text with a NUL) and the log. */
    public record Result(byte[] image, boolean cubin, String log) {}

    private Nvrtc(NativeLibraries.Library lib) {
        this.lib = lib;
        var I = JAVA_INT;
        var A = ADDRESS;
        nvrtcVersion = lib.function(FunctionDescriptor.of(I, A, A), "nvrtcVersion");
        nvrtcGetErrorString = lib.function(FunctionDescriptor.of(A, I), "nvrtcGetErrorString");
        nvrtcCreateProgram = lib.function(FunctionDescriptor.of(I, A, A, A, I, A, A), "nvrtcCreateProgram");
        nvrtcCompileProgram = lib.function(FunctionDescriptor.of(I, A, I, A), "nvrtcCompileProgram");
        nvrtcGetProgramLogSize = lib.function(FunctionDescriptor.of(I, A, A), "nvrtcGetProgramLogSize");
        nvrtcGetProgramLog = lib.function(FunctionDescriptor.of(I, A, A), "nvrtcGetProgramLog");
        nvrtcGetCUBINSize = lib.function(FunctionDescriptor.of(I, A, A), "nvrtcGetCUBINSize");
        nvrtcGetCUBIN = lib.function(FunctionDescriptor.of(I, A, A), "nvrtcGetCUBIN");
        nvrtcGetPTXSize = lib.function(FunctionDescriptor.of(I, A, A), "nvrtcGetPTXSize");
        nvrtcGetPTX = lib.function(FunctionDescriptor.of(I, A, A), "nvrtcGetPTX");
        nvrtcDestroyProgram = lib.function(FunctionDescriptor.of(I, A), "nvrtcDestroyProgram");
    }

    public static Nvrtc get() {
        Nvrtc n = instance;
        if (n == null) {
            synchronized (Nvrtc.class) {
                n = instance;
                if (n == null) {
                    n = new Nvrtc(NativeLibraries.load(
                            "NVRTC (libnvrtc)",
                            ENV,
                            CudaHome.libraryCandidates("libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so")));
                    instance = n;
                }
            }
        }
        return n;
    }

    /** The library name it was opened by. */
    public String libraryName() {
        return lib.name();
    }

    /** {major, minor}. */
    public int[] version() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ma = a.allocate(JAVA_INT), mi = a.allocate(JAVA_INT);
            check((int) nvrtcVersion.invokeExact(ma, mi), "nvrtcVersion", null);
            return new int[] {ma.get(JAVA_INT, 0), mi.get(JAVA_INT, 0)};
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public String errorString(int code) {
        try {
            MemorySegment p = (MemorySegment) nvrtcGetErrorString.invokeExact(code);
            return p.equals(MemorySegment.NULL)
                    ? "NVRTC error " + code
                    : p.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "NVRTC error " + code;
        }
    }

    private void check(int rc, String call, String log) {
        if (rc != 0) throw new NvrtcException(call, rc, errorString(rc), log);
    }

    /**
     * Compiles {@code source}. With an {@code --gpu-architecture=sm_XY} (or {@code -arch=sm_XY}) option
     * the result is a CUBIN; with {@code compute_XY} it is PTX.
     */
    public Result compile(String source, String name, List<String> options) {
        boolean cubin = options.stream().anyMatch(o -> o.contains("sm_"));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment pp = a.allocate(ADDRESS);
            check(
                    (int) nvrtcCreateProgram.invokeExact(
                            pp,
                            a.allocateFrom(source),
                            a.allocateFrom(name),
                            0,
                            MemorySegment.NULL,
                            MemorySegment.NULL),
                    "nvrtcCreateProgram(" + name + ")",
                    null);
            MemorySegment prog = pp.get(ADDRESS, 0);
            try {
                MemorySegment opts = a.allocate(ADDRESS, Math.max(1, options.size()));
                for (int i = 0; i < options.size(); i++) opts.setAtIndex(ADDRESS, i, a.allocateFrom(options.get(i)));
                int rc = (int) nvrtcCompileProgram.invokeExact(prog, options.size(), opts);
                String log = log(a, prog);
                if (rc != 0) check(rc, "nvrtcCompileProgram(" + name + ", " + String.join(" ", options) + ")", log);
                MemorySegment sz = a.allocate(JAVA_LONG);
                byte[] image;
                if (cubin) {
                    check((int) nvrtcGetCUBINSize.invokeExact(prog, sz), "nvrtcGetCUBINSize", null);
                    MemorySegment buf = a.allocate(Math.max(1, sz.get(JAVA_LONG, 0)));
                    check((int) nvrtcGetCUBIN.invokeExact(prog, buf), "nvrtcGetCUBIN", null);
                    image = buf.asSlice(0, sz.get(JAVA_LONG, 0)).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                } else {
                    check((int) nvrtcGetPTXSize.invokeExact(prog, sz), "nvrtcGetPTXSize", null);
                    MemorySegment buf = a.allocate(Math.max(1, sz.get(JAVA_LONG, 0)));
                    check((int) nvrtcGetPTX.invokeExact(prog, buf), "nvrtcGetPTX", null);
                    image = buf.asSlice(0, sz.get(JAVA_LONG, 0)).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                }
                return new Result(image, cubin, log);
            } finally {
                MemorySegment holder = a.allocate(ADDRESS);
                holder.set(ADDRESS, 0, prog);
                int rc = (int) nvrtcDestroyProgram.invokeExact(holder);
                if (rc != 0) System.err.println("fulgur: nvrtcDestroyProgram: " + errorString(rc));
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private String log(Arena a, MemorySegment prog) throws Throwable {
        MemorySegment sz = a.allocate(JAVA_LONG);
        check((int) nvrtcGetProgramLogSize.invokeExact(prog, sz), "nvrtcGetProgramLogSize", null);
        long n = sz.get(JAVA_LONG, 0);
        if (n <= 1) return "";
        MemorySegment buf = a.allocate(n);
        check((int) nvrtcGetProgramLog.invokeExact(prog, buf), "nvrtcGetProgramLog", null);
        return buf.getString(0);
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }
}
