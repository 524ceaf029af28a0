package fulgur.backend;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/**
 * Finds a native library by soname, with an environment variable that overrides the search (a full
 * path or another soname). Every failure names what was tried and how to fix it.
 */
public final class NativeLibraries {
    private NativeLibraries() {}

    /** An opened library and the name it was opened by. */
    public record Library(String name, SymbolLookup lookup) {
        /** A downcall handle for {@code symbol}; the first of {@code symbols} that exists is used. */
        public MethodHandle function(FunctionDescriptor descriptor, String... symbols) {
            return find(symbols)
                    .map(s -> Linker.nativeLinker().downcallHandle(s, descriptor))
                    .orElseThrow(() -> new NativeLibraryNotFoundException(
                            "symbol " + String.join(" / ", symbols) + " not found in " + name
                                    + " (library too old for fulgur?)",
                            null));
        }

        /** A downcall handle, or empty when the library lacks every one of {@code symbols}. */
        public Optional<MethodHandle> optionalFunction(FunctionDescriptor descriptor, String... symbols) {
            return find(symbols).map(s -> Linker.nativeLinker().downcallHandle(s, descriptor));
        }

        private Optional<MemorySegment> find(String... symbols) {
            for (String s : symbols) {
                Optional<MemorySegment> m = lookup.find(s);
                if (m.isPresent()) return m;
            }
            return Optional.empty();
        }
    }

    /**
     * Opens the first of {@code candidates} that loads, or the value of environment variable
     * {@code envVar} when set.
     *
     * @param what human description ("the CUDA driver"), used in messages
     */
    public static Library load(String what, String envVar, List<String> candidates) {
        return load(what, envVar, System.getenv(envVar), candidates, NativeLibraries::open);
    }

    /** As {@link #load(String, String, List)} with the environment value and opener given (tests). */
    static Library load(
            String what,
            String envVar,
            String envValue,
            List<String> candidates,
            Function<String, SymbolLookup> opener) {
        List<String> tried = new ArrayList<>();
        List<String> names = (envValue != null && !envValue.isBlank()) ? List.of(envValue.trim()) : candidates;
        Throwable last = null;
        for (String name : names) {
            try {
                return new Library(name, opener.apply(name));
            } catch (IllegalArgumentException | UnsatisfiedLinkError e) {
                tried.add(name);
                last = e;
            }
        }
        String msg = (envValue != null && !envValue.isBlank())
                ? "cannot open " + what + " at " + envValue + " (from " + envVar + "): "
                        + (last == null ? "" : last.getMessage()) + ". Unset " + envVar
                        + " or point it at the library file."
                : "cannot find " + what + ": tried " + String.join(", ", tried)
                        + ". Install it (NVIDIA driver / CUDA toolkit), add its folder to LD_LIBRARY_PATH, or set "
                        + envVar + " to the library's full path.";
        throw new NativeLibraryNotFoundException(msg, last);
    }

    private static SymbolLookup open(String name) {
        return SymbolLookup.libraryLookup(name, Arena.global());
    }
}
