package fulgur.dist.ddp;

import fulgur.autograd.Autograd;
import fulgur.tensor.Tensor;
import java.util.List;

/**
 * Gradient communication that runs alongside a backward pass: told when the pass starts, when each leaf's gradient is
 * complete (leaves it does not own are ignored), and when the pass is over, at which point the gradients it owns
 * hold their communicated values. Several hooks (e.g. one per process group) can share one backward pass.
 */
public interface GradientHook {

    /** Called before the backward pass. */
    void start();

    /** The gradient of {@code leaf} is complete for this pass. */
    void onLeafGradient(Tensor leaf);

    /** Called after the backward pass: launches what is left, waits, writes the results back. */
    void finish();

    /** The backward of {@code loss} with every hook communicating while it runs. */
    static void backward(Tensor loss, Autograd.Free free, List<? extends GradientHook> hooks) {
        backward(List.of(loss), java.util.Collections.singletonList(null), free, hooks);
    }

    /**
     * One backward pass from several outputs with their seeds (a chunk of a long sequence: its loss and its final
     * states) with every hook communicating while it runs; {@code keep}: forward tensors read afterwards.
     */
    static void backward(
            List<Tensor> roots,
            List<Tensor> seeds,
            Autograd.Free free,
            List<? extends GradientHook> hooks,
            Tensor... keep) {
        hooks.forEach(GradientHook::start);
        Autograd.backward(
                roots,
                seeds,
                leaf -> {
                    for (GradientHook h : hooks) {
                        h.onLeafGradient(leaf);
                    }
                },
                free,
                keep);
        hooks.forEach(GradientHook::finish);
    }
}
