package fulgur.ops;

import fulgur.autograd.Autograd;
import fulgur.tensor.Tensor;

/** Loss functions. */
public final class Losses {
    private Losses() {}

    public static final int IGNORE_INDEX = -100;

    /** Mean cross-entropy of logits [..., V] against integer targets [...], skipping {@link #IGNORE_INDEX}. */
    public static Tensor crossEntropy(Tensor logits, Tensor targets) {
        return crossEntropy(logits, targets, IGNORE_INDEX, 0);
    }

    public static Tensor crossEntropy(Tensor logits, Tensor targets, int ignoreIndex, double labelSmoothing) {
        logits.checkAlive("crossEntropy");
        targets.checkAlive("crossEntropy");
        if (labelSmoothing < 0 || labelSmoothing > 1) {
            throw new IllegalArgumentException("crossEntropy: label smoothing must be in [0, 1], got " + labelSmoothing);
        }
        if (logits.ndim() < 1 || targets.numel() * logits.size(-1) != logits.numel()) {
            throw new IllegalArgumentException("crossEntropy: logits " + logits.describe() + " do not match targets " + targets.describe()
                    + " (expected logits [..., V] with the targets' leading shape)");
        }
        Tensor flat = Views.reshape(logits, -1, logits.size(-1));
        Tensor out = logits.backend().crossEntropy(flat, targets, ignoreIndex, labelSmoothing);
        return Autograd.record("crossEntropy", out, new Tensor[] {flat},
                g -> new Tensor[] {logits.backend().crossEntropyBackward(flat, targets, ignoreIndex, labelSmoothing, g.item())});
    }
}
