package fulgur.cuda.zoo;

import static fulgur.cuda.BackendCheck.GPU;
import static fulgur.cuda.BackendCheck.dev;
import static fulgur.cuda.BackendCheck.gpu;
import static fulgur.cuda.BackendCheck.ints;
import static fulgur.cuda.BackendCheck.relErr;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.GradMode;
import fulgur.cuda.ops.FamilyCheck;
import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.DecodeCache;
import fulgur.models.LanguageModel;
import fulgur.nn.Parameter;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.train.MixedPrecision;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every architecture's bf16 mixed-precision training step on CUDA (the family kernels) against the same model in f32 on
 * the CPU (bf16-representable weights): the loss and every parameter's gradient within bf16 tolerance; the step reaches
 * the kernels of the families the architecture is built from (counted through the registry); and on the GPU, decoding
 * token by token after a prefill gives the logits of the whole sequence. Width 128 with 2 heads (head dims 64: the
 * tensor-core paths), 2 layers, an odd length above one kernel block. MiniMax's routers get weights large enough that no
 * token sits near a routing tie, so bf16 rounding cannot change a choice.
 */
@Tag("gpu")
class ZooBf16GpuTest {
  static final int VOCAB = 97, T = 67, PREFILL = 30, DECODE = 10;

  static Stream<String> names() { return Architectures.all().stream().map(Architecture::name); }

  /** The kernel calls each architecture's step makes on CUDA (forward and backward of each family it is built from). */
  static List<String> expected(String name) {
    List<String> glu = List.of("GluKernels.siluMul", "GluKernels.siluMulBackward");
    List<String> lightning = List.of("LightningKernels.forward", "LightningKernels.backward");
    List<String> attention = List.of("AttentionKernels.forward", "AttentionKernels.backward");
    return switch (name) {
      case "tnl" -> lightning;
      case "hgrn2" -> concat(List.of("GlaKernels.forward", "GlaKernels.backward", "LogDecayKernels.forward", "LogDecayKernels.backward"), glu);
      case "metala" -> concat(List.of("GlaKernels.forward", "GlaKernels.backward", "LogDecayKernels.forward", "LogDecayKernels.backward",
          "ShortConvKernels.forward", "ShortConvKernels.backward"), glu);
      case "lightnet" -> concat(List.of("LightNetKernels.forward", "LightNetKernels.backward", "GatedNormKernels.forward",
          "GatedNormKernels.backward"), glu);
      case "lcsm" -> concat(List.of("LcsmKernels.forward", "LcsmKernels.backward"), glu);
      case "llama" -> concat(attention, glu);
      case "linear-llama" -> concat(lightning, glu);
      case "minimax" -> concat(concat(lightning, attention), List.of("MoeKernels.forward", "MoeKernels.backward", "GatedNormKernels.forward",
          "GatedNormKernels.backward"));
      default -> throw new IllegalArgumentException("no expectation for architecture " + name);
    };
  }

  static List<String> concat(List<String> a, List<String> b) { return Stream.concat(a.stream(), b.stream()).toList(); }

  /** bf16-representable weights; MiniMax's routers scaled up (no near-ties among the top-k logits). */
  static LanguageModel build(Architecture a, String config) {
    LanguageModel m = a.build(config, 7);
    try (var ng = GradMode.noGrad()) {
      for (Map.Entry<String, Parameter> p : m.module().namedParameters().entrySet()) {
        Tensor v = p.getValue().value();
        if (!v.dtype().isFloating()) continue;
        Tensor w = p.getKey().endsWith("block_sparse_moe.gate.weight") ? v.mul(40.0) : v;
        v.copyFrom(w.to(DType.BF16));
      }
    }
    return m;
  }

  @ParameterizedTest
  @MethodSource("names")
  void bf16StepMatchesTheCpuAndDecodingMatchesThePrefill(String name) {
    gpu();
    Architecture a = Architectures.byName(name);
    String config = a.smallConfig(VOCAB, 128, 2, 2);
    try (LanguageModel gm = build(a, config); LanguageModel cm = build(a, config)) {
      gm.module().to(GPU);
      try (Scope s = Scope.open(name); MixedPrecision mp = MixedPrecision.bf16(gm.module())) {
        check(name, cm, gm);
      }
    }
  }

  static void check(String name, LanguageModel cm, LanguageModel gm) {
    Tensor ids = ints(41, DType.I64, VOCAB, 2, T);
    Tensor tg = ints(42, DType.I64, VOCAB, 2 * T);
    Tensor cl = cm.loss(ids, tg);
    cl.backward();
    Tensor gl;
    try (FamilyCheck.Calls calls = FamilyCheck.Calls.everyFamily(GPU)) {
      gl = gm.loss(dev(ids), dev(tg));
      gl.backward();
      System.out.println(name + ": kernel calls " + new java.util.TreeMap<>(calls.all()));
      for (String call : expected(name)) assertThat(calls.count(call)).as(name + " reaches " + call).isPositive();
    }
    double le = Math.abs(gl.item() - cl.item()) / Math.abs(cl.item());
    Map<String, Parameter> cp = cm.module().namedParameters();
    Map<String, Parameter> gp = gm.module().namedParameters();
    double worst = 0, num = 0, den = 0;
    String worstName = "";
    for (String n : cp.keySet()) {
      Tensor cg = cp.get(n).grad();
      if (cg == null) continue;
      double[] c = cg.toDoubleArray(), g = gp.get(n).grad().toDoubleArray();
      double e = relErr(g, c);
      if (e > worst) {
        worst = e;
        worstName = n;
      }
      for (int i = 0; i < c.length; i++) {
        num += (g[i] - c[i]) * (g[i] - c[i]);
        den += c[i] * c[i];
      }
    }
    double all = Math.sqrt(num / den);
    System.out.printf("%s: loss cpu %.6f gpu bf16 %.6f (rel %.1e); gradients rel %.2e overall, worst %.2e (%s)%n", name, cl.item(), gl.item(), le,
        all, worst, worstName);
    assertThat(le).as(name + " loss").isLessThan(1e-2);
    assertThat(all).as(name + " all gradients").isLessThan(1e-2);
    // a few bf16 roundings deep (activations, products, the gradient's own rounding) for the worst single tensor
    assertThat(worst).as(name + " gradient of " + worstName).isLessThan(3e-2);

    try (var ng = GradMode.noGrad(); DecodeCache cache = gm.newCache()) {
      int len = PREFILL + DECODE;
      double[] full = gm.forward(dev(ids.narrow(1, 0, len).contiguous())).toDoubleArray();
      double[] got = new double[full.length];
      double[] first = gm.forward(dev(ids.narrow(1, 0, PREFILL).contiguous()), cache).toDoubleArray();
      for (int b = 0; b < 2; b++) System.arraycopy(first, b * PREFILL * VOCAB, got, b * len * VOCAB, PREFILL * VOCAB);
      for (int i = PREFILL; i < len; i++) {
        double[] step = gm.forward(dev(ids.narrow(1, i, 1).contiguous()), cache).toDoubleArray();
        for (int b = 0; b < 2; b++) System.arraycopy(step, b * VOCAB, got, (b * len + i) * VOCAB, VOCAB);
      }
      double de = relErr(got, full);
      System.out.printf("%s: bf16 prefill + decode vs whole sequence rel %.2e%n", name, de);
      assertThat(de).as(name + " decode").isLessThan(1e-2);
    }
  }
}
