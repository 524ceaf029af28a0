package fulgur.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.SymbolLookup;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

class NativeLibrariesTest {
    private static final Function<String, SymbolLookup> NOTHING = n -> {
        throw new IllegalArgumentException("Cannot open library: " + n);
    };

    @Test
    void namesEveryCandidateAndTheVariableWhenNothingLoads() {
        assertThatThrownBy(() -> NativeLibraries.load(
                        "NVRTC (libnvrtc)",
                        "FULGUR_LIBNVRTC",
                        null,
                        List.of("libnvrtc.so.13", "libnvrtc.so.12"),
                        NOTHING))
                .isInstanceOf(NativeLibraryNotFoundException.class)
                .hasMessageContaining("cannot find NVRTC (libnvrtc)")
                .hasMessageContaining("libnvrtc.so.13, libnvrtc.so.12")
                .hasMessageContaining("FULGUR_LIBNVRTC");
    }

    @Test
    void theOverrideIsTheOnlyThingTriedAndIsNamedWhenItFails() {
        List<String> tried = new ArrayList<>();
        assertThatThrownBy(() -> NativeLibraries.load(
                        "the CUDA driver", "FULGUR_LIBCUDA", "/nowhere/libcuda.so.1", List.of("libcuda.so.1"), n -> {
                            tried.add(n);
                            return NOTHING.apply(n);
                        }))
                .isInstanceOf(NativeLibraryNotFoundException.class)
                .hasMessageContaining("/nowhere/libcuda.so.1")
                .hasMessageContaining("FULGUR_LIBCUDA");
        assertThat(tried).containsExactly("/nowhere/libcuda.so.1");
    }

    @Test
    void fallsBackToTheNextCandidate() {
        SymbolLookup empty = name -> java.util.Optional.empty();
        NativeLibraries.Library lib = NativeLibraries.load(
                "NVRTC",
                "FULGUR_LIBNVRTC",
                "",
                List.of("libnvrtc.so.13", "libnvrtc.so.12"),
                n -> n.endsWith("12") ? empty : NOTHING.apply(n));
        assertThat(lib.name()).isEqualTo("libnvrtc.so.12");
        assertThatThrownBy(() -> lib.function(java.lang.foreign.FunctionDescriptor.ofVoid(), "nvrtcFoo"))
                .hasMessageContaining("nvrtcFoo")
                .hasMessageContaining("libnvrtc.so.12");
    }
}
