package fulgur.cuda.ops;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.cuda.BackendCheck;
import fulgur.cuda.CudaBackend;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Helpers of the op-family kernel tests: the GPU launchers' shared {@link DeviceTensors} (poisoning every output with
 * NaN), fresh never-zero random inputs, and comparisons that report each output's relative L2 error, its non-finite
 * count and the first element far from the reference.
 */
public final class ZooCheck {
  private ZooCheck() {}

  /** The CUDA backend's context and stream with output poisoning on, or a skipped test without a GPU. */
  public static DeviceTensors gpu() {
    CudaBackend b = BackendCheck.gpu();
    return DeviceTensors.of(b).poison(true);
  }

  /** U[lo, hi) values, rounded to dtype, as a CPU tensor of that dtype. */
  public static Tensor uniform(long seed, DType dtype, double lo, double hi, int... shape) {
    Tensor f = new Rng(seed).uniform(DType.F64, lo, hi, shape);
    return f.to(dtype);
  }

  /** Uniform values in ±[0.1, 1) (never near zero), rounded to dtype. */
  public static Tensor signed(long seed, DType dtype, int... shape) {
    double[] u = new Rng(seed).uniform(DType.F64, 0, 1, shape).toDoubleArray();
    for (int i = 0; i < u.length; i++) u[i] = (u[i] < 0.5 ? -1 : 1) * (0.1 + 1.8 * Math.abs(u[i] - 0.5));
    return Tensor.of(DType.F64, u, shape).to(dtype);
  }

  /** log sigmoid(x) for x uniform in [lo, hi): a log decay in (-inf, 0), rounded to dtype. */
  public static Tensor logDecay(long seed, DType dtype, double lo, double hi, int... shape) {
    double[] x = new Rng(seed).uniform(DType.F64, lo, hi, shape).toDoubleArray();
    for (int i = 0; i < x.length; i++) x[i] = -Math.log1p(Math.exp(-x[i]));
    return Tensor.of(DType.F64, x, shape).to(dtype);
  }

  public static Tensor dev(Tensor cpu) { return cpu.to(Device.cuda(0)); }

  public static double[] host(Tensor t) { return t.to(Device.CPU).toDoubleArray(); }

  /** Accumulates named comparisons; {@link #verify} prints them all, then fails on the first one over tolerance. */
  public static final class Report {
    private final String what;
    private final List<String> lines = new ArrayList<>();
    private final List<String> failures = new ArrayList<>();

    public Report(String what) { this.what = what; }

    public Report check(String name, Tensor got, double[] ref, double tol) {
      return check(name, got == null ? null : host(got), ref, tol);
    }

    public Report check(String name, double[] got, double[] ref, double tol) {
      if (got == null) {
        failures.add(name + ": missing");
        lines.add(String.format("  %-12s missing", name));
        return this;
      }
      if (got.length != ref.length) {
        failures.add(name + ": " + got.length + " elements, reference " + ref.length);
        lines.add(String.format("  %-12s %d elements, reference %d", name, got.length, ref.length));
        return this;
      }
      double num = 0, den = 0;
      int bad = 0, first = -1;
      for (int i = 0; i < got.length; i++) {
        if (!Double.isFinite(got[i])) {
          bad++;
          if (first < 0) first = i;
          continue;
        }
        double d = got[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
      }
      double rms = Math.sqrt(den / Math.max(1, ref.length));
      double err = bad > 0 ? Double.POSITIVE_INFINITY : Math.sqrt(num / Math.max(den, 1e-300));
      if (first < 0) {
        for (int i = 0; i < got.length; i++) {
          if (Math.abs(got[i] - ref[i]) > 20 * tol * Math.max(rms, 1e-30)) {
            first = i;
            break;
          }
        }
      }
      String where = first < 0 ? "" : String.format(Locale.ROOT, "  first far element %d: %.6g vs %.6g", first, got[first], ref[first]);
      String line = String.format(Locale.ROOT, "  %-12s rel err %.3e (tol %.0e)  non-finite %d  ref rms %.3e%s", name, err, tol, bad, rms, where);
      lines.add(line);
      if (!(err < tol)) failures.add(name + line);
      return this;
    }

    public void verify() {
      System.out.println(what);
      lines.forEach(System.out::println);
      assertThat(failures).as(what + " (each output: relative L2 error, non-finite count, first far element)").isEmpty();
    }
  }
}
