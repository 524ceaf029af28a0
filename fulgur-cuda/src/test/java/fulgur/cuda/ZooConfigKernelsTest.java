package fulgur.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import fulgur.backend.Kernels;
import fulgur.cuda.ops.attention.CudaAttention;
import fulgur.cuda.ops.conv.CudaShortConv;
import fulgur.cuda.ops.gla.CudaGla;
import fulgur.cuda.ops.lcsm.CudaLcsm;
import fulgur.cuda.ops.lightnet.CudaLightNet;
import fulgur.cuda.ops.moe.CudaMoe;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.ops.attention.AttentionKernels;
import fulgur.ops.conv.ShortConvKernels;
import fulgur.ops.gla.GlaKernels;
import fulgur.ops.lcsm.LcsmKernels;
import fulgur.ops.lightnet.LightNetKernels;
import fulgur.ops.moe.MoeKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.io.IOException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The benchmark's model configs (scripts/gpu/zoo/*.json: width 1024, 12 layers) at full width (2 of their layers), one
 * bf16 training step on the CPU (a few tokens): every call of an op family that has CUDA kernels asks whether they would take its arguments
 * (the CUDA kernels' own checks, which read only shapes and dtypes), and the answer must be yes for every call of every
 * family the architecture is built from, so that on CUDA the benchmark runs on the kernels. (The calls then run the
 * composed form here.) No GPU needed.
 */
class ZooConfigKernelsTest {

    static Path zoo() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path d = p.resolve("scripts/gpu/zoo");
            if (Files.isDirectory(d)) return d;
        }
        throw new IllegalStateException(
                "scripts/gpu/zoo not found above " + Path.of("").toAbsolutePath());
    }

    /** The configs fulgur trains (fla's GLA stands beside them as a peer only). */
    static Stream<String> configs() throws IOException {
        try (Stream<Path> s = Files.list(zoo())) {
            return s
                    .map(p -> p.getFileName().toString())
                    .filter(n -> n.endsWith(".json") && !n.equals("gla.json"))
                    .sorted()
                    .toList()
                    .stream();
        }
    }

    /** The families each model type is built from (besides lightning and the GLU, which take every argument). */
    static List<Class<?>> families(String file) {
        return switch (file) {
            case "hgrn2.json" -> List.of(GlaKernels.class);
            case "metala.json" -> List.of(GlaKernels.class, ShortConvKernels.class);
            case "lightnet.json" -> List.of(LightNetKernels.class);
            case "lcsm.json" -> List.of(LcsmKernels.class);
            case "llama.json" -> List.of(AttentionKernels.class);
            case "minimax.json" -> List.of(AttentionKernels.class, MoeKernels.class);
            case "tnl.json" -> List.of();
            default -> throw new IllegalArgumentException("no expectation for " + file);
        };
    }

    /**
     * The config with 2 layers instead of 12 (the layers repeat; MiniMax keeps one lightning and one softmax layer), so
     * the step stays short on the CPU at full width.
     */
    static String twoLayers(String json) throws IOException {
        ObjectMapper om = new ObjectMapper();
        ObjectNode c = (ObjectNode) om.readTree(json);
        for (String key : List.of("num_hidden_layers", "decoder_layers", "num_layers")) {
            if (c.has(key)) c.put(key, 2);
        }
        if (c.has("layer_types")) {
            c.putArray("layer_types").add("linear_attention").add("full_attention");
        }
        if (c.has("linear_use_lrpe_list")) {
            c.putArray("linear_use_lrpe_list").add(0).add(0);
        }
        return om.writeValueAsString(c);
    }

    /** What the CUDA kernels of a family answer for one call's arguments. */
    static boolean cudaAccepts(Class<?> family, Object[] a) {
        if (family == GlaKernels.class)
            return CudaGla.accepts((Tensor) a[0], (Tensor) a[1], (Tensor) a[2], (Tensor) a[3]);
        if (family == LightNetKernels.class) return CudaLightNet.accepts((Tensor) a[0], (Tensor) a[1], (Tensor) a[2]);
        if (family == LcsmKernels.class) return CudaLcsm.accepts((Tensor) a[0], (Tensor) a[1]);
        if (family == ShortConvKernels.class) return CudaShortConv.accepts((Tensor) a[0], (Tensor) a[1]);
        if (family == AttentionKernels.class)
            return CudaAttention.accepts((Tensor) a[0], (Tensor) a[1], (Tensor) a[2], (double) a[3], (boolean) a[4]);
        if (family == MoeKernels.class) {
            return CudaMoe.accepts((Tensor) a[0], (Tensor) a[1], (DType) a[2], (int) a[3], (MoeKernels.Routing) a[4]);
        }
        throw new IllegalArgumentException(family.getName());
    }

    @ParameterizedTest
    @MethodSource("configs")
    void everyFamilyCallOfTheBenchmarkConfigsTakesTheCudaKernels(String file) throws IOException {
        String json = twoLayers(Files.readString(zoo().resolve(file)));
        Map<String, List<Boolean>> answers = new TreeMap<>();
        List<Kernels.Use> spies = new ArrayList<>();
        for (Class<?> f : List.of(
                GlaKernels.class,
                LightNetKernels.class,
                LcsmKernels.class,
                ShortConvKernels.class,
                AttentionKernels.class,
                MoeKernels.class)) {
            spies.add(spy(f, answers));
        }
        try (Scope s = Scope.open(file);
                LanguageModel m = Architectures.forConfig(json).build(json, 1)) {
            m.module().to(DType.BF16);
            Tensor ids = BackendCheck.ints(2, DType.I64, m.vocabSize(), 1, 9);
            Tensor targets = BackendCheck.ints(3, DType.I64, m.vocabSize(), 9);
            Tensor loss = m.loss(ids, targets);
            loss.backward();
            assertThat(Double.isFinite(loss.item())).as(file + " loss").isTrue();
        } finally {
            for (int i = spies.size() - 1; i >= 0; i--) spies.get(i).close();
        }
        System.out.println(file + ": CUDA kernels' answers " + answers);
        for (Class<?> f : families(file)) {
            List<Boolean> a = answers.get(f.getSimpleName());
            assertThat(a).as(file + " calls " + f.getSimpleName()).isNotNull().isNotEmpty();
            assertThat(a)
                    .as(file + ": " + f.getSimpleName() + " calls the CUDA kernels would take")
                    .containsOnly(true);
        }
    }

    /** A family kernel whose supports records the CUDA kernels' answer and says no (the composed form runs). */
    private static <K> Kernels.Use spy(Class<K> family, Map<String, List<Boolean>> answers) {
        Object proxy = Proxy.newProxyInstance(family.getClassLoader(), new Class<?>[] {family}, (p, m, args) -> {
            if (m.getName().equals("supports")) {
                answers.computeIfAbsent(family.getSimpleName(), k -> new ArrayList<>())
                        .add(cudaAccepts(family, args));
                return false;
            }
            if (m.getDeclaringClass() == Object.class) {
                return switch (m.getName()) {
                    case "hashCode" -> System.identityHashCode(p);
                    case "equals" -> p == args[0];
                    default -> "spy " + family.getSimpleName();
                };
            }
            throw new UnsupportedOperationException(family.getSimpleName() + "." + m.getName() + " on the spy");
        });
        return Kernels.use(family, family.cast(proxy));
    }
}
