package fulgur.train;

import fulgur.autograd.GradMode;
import fulgur.nn.Module;
import fulgur.nn.Parameter;
import fulgur.ops.Reductions;
import fulgur.tensor.DType;
import fulgur.tensor.Finite;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.Map;

/**
 * Non-finite values during training: a step whose loss or gradient norm is NaN or infinite, or an evaluation whose
 * results are. The run stops with a message naming the step, the first parameter whose gradient and the first whose
 * weight went non-finite, and the checkpoint that is kept: nothing is saved from a diverged model. Only the scalars
 * the step already brings to the host (loss and gradient norm) are checked every step; tensors are scanned only
 * once something is wrong.
 */
public final class Divergence {

    private Divergence() {}

    /**
     * Throws when {@code loss} or {@code gradNorm} of step {@code step} (1-based, the step just taken) is not finite.
     * {@code lastSaved} is the step of the checkpoint on disk (≤ 0: none).
     *
     * @param step the step just taken, 1-based
     * @param loss its loss
     * @param gradNorm its gradient norm
     * @param model the model, whose first non-finite parameter the message names
     * @param lastSaved the step of the checkpoint on disk, ≤ 0 for none
     * @throws IllegalStateException when the loss or gradient norm is NaN or infinite
     */
    public static void checkStep(long step, double loss, double gradNorm, Module model, long lastSaved) {
        if (Double.isFinite(loss) && Double.isFinite(gradNorm)) {
            return;
        }
        StringBuilder what = new StringBuilder();
        if (!Double.isFinite(loss)) {
            what.append("the loss is ").append(loss);
        }
        if (!Double.isFinite(gradNorm)) {
            what.append(what.isEmpty() ? "" : " and ")
                    .append("the gradient norm is ")
                    .append(gradNorm);
        }
        throw new IllegalStateException(message(step, what.toString(), model, lastSaved));
    }

    /**
     * Throws when an evaluation after step {@code step} gave a non-finite value.
     *
     * @param step the step just taken
     * @param eval the metrics by name
     * @param model the model, whose first non-finite parameter the message names
     * @param lastSaved the step of the checkpoint on disk, ≤ 0 for none
     * @throws IllegalStateException when a metric is NaN or infinite
     */
    public static void checkEval(long step, Map<String, Double> eval, Module model, long lastSaved) {
        for (var e : eval.entrySet()) {
            if (e.getValue() != null && !Double.isFinite(e.getValue())) {
                throw new IllegalStateException(message(
                        step, "the evaluation gave val_" + e.getKey() + " = " + e.getValue(), model, lastSaved));
            }
        }
    }

    static String message(long step, String what, Module model, long lastSaved) {
        StringBuilder sb = new StringBuilder("training diverged at step ")
                .append(step)
                .append(": ")
                .append(what);
        String grad = firstNonFiniteGradient(model);
        String weight = Finite.describeFirst(model.stateDict());
        if (grad != null) {
            sb.append("; first non-finite gradient: ").append(grad);
        }
        if (weight != null) {
            sb.append("; first non-finite weight: ").append(weight);
        } else if (grad == null) {
            sb.append("; weights and gradients are finite, but the model's outputs are not (the largest weight is ")
                    .append(largestWeight(model))
                    .append(")");
        }
        sb.append(lastSaved > 0 ? "; the checkpoint of step " + lastSaved + " is kept" : "; no checkpoint was saved");
        sb.append("; try a lower learning rate or gradient clipping");
        return sb.toString();
    }

    /** "1.1e+12 in 'name'": the weight of largest magnitude, which tells a model blown up by too large a learning rate. */
    private static String largestWeight(Module model) {
        double best = 0;
        String where = "";
        try (Scope s = Scope.open("divergence");
                var g = GradMode.noGrad()) {
            for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
                Tensor v = e.getValue().value();
                if (v.dtype().isFloating() && v.numel() > 0) {
                    double m = Reductions.max(v.abs().to(DType.F64).reshape(-1), new int[] {0}, false)
                            .item();
                    if (m > best) {
                        best = m;
                        where = e.getKey();
                    }
                }
            }
        }
        return String.format(java.util.Locale.ROOT, "%.3g in '%s'", best, where);
    }

    private static String firstNonFiniteGradient(Module model) {
        for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
            var g = e.getValue().grad();
            if (g != null && !g.storage().isReleased()) {
                String d = Finite.describe(e.getKey(), g);
                if (d != null) {
                    return d;
                }
            }
        }
        return null;
    }
}
