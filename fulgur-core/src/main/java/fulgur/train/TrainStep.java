package fulgur.train;

import fulgur.autograd.Autograd;
import fulgur.backend.Backends;
import fulgur.backend.DeferredChecks;
import fulgur.backend.DeviceRuntime;
import fulgur.backend.StepGraph;
import fulgur.data.Batch;
import fulgur.models.CausalLM;
import fulgur.ops.Views;
import fulgur.optim.AdamW;
import fulgur.optim.GradClip;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.List;

/**
 * One optimizer step of the training loop as device work: drop the gradients, forward and backward of every
 * micro-batch, gradient clipping, AdamW, and the 16-bit copies of the masters. Batches are copied into fixed input
 * tensors on the model's device and the losses and gradient norm come back through fixed output tensors, so nothing
 * inside the step reads the device from the host. That lets the step be recorded once as a CUDA graph and replayed
 * ({@code graph = true}): the first step runs eagerly (it creates the optimizer's moments and loads every kernel),
 * the second is captured and replayed, and every later step is one replay. A replay computes exactly what the eager
 * step computes. Eager steps defer the backend's index checks to the end of the step for the same reason.
 */
public final class TrainStep implements AutoCloseable {

    /**
     * The mean loss over the micro-batches and the gradient norm before clipping.
     *
     * @param loss the mean loss
     * @param gradNorm the global gradient norm before clipping
     */
    public record Outcome(double loss, double gradNorm) {}

    private final CausalLM model;
    private final MixedPrecision mp;
    private final AdamW opt;
    private final double gradClip;
    private final int accumulation;
    private final boolean graph;
    private final DeviceRuntime backend;
    private final ChunkedStep chunked;
    private long growingStateBytes = -1;
    private Scope buffers = Scope.detached("train step");
    private Tensor[] inputs;
    private Tensor[] targets;
    private Tensor losses; // the micro-batches' losses, then the gradient norm: read back in one transfer
    private StepGraph captured;
    private long eagerSteps;

    /**
     * A step for {@code model} (parameters on their device; {@code mp} null without mixed precision) with {@code opt}
     * over the model's (or the masters') parameters, clipping at {@code gradClip} (0: none).
     *
     * @param model the model
     * @param mp the mixed-precision masters, or null
     * @param opt the optimizer
     * @param gradClip the largest global gradient norm, 0 for none
     * @param accumulation micro-batches per step
     * @param graph whether to capture the step as a CUDA graph
     * @throws IllegalArgumentException when {@code graph} is set and the model is not on a cuda device
     */
    public TrainStep(CausalLM model, MixedPrecision mp, AdamW opt, double gradClip, int accumulation, boolean graph) {
        this(model, mp, opt, gradClip, accumulation, graph, 0);
    }

    /**
     * A step that walks sequences longer than {@code seqChunk} tokens in chunks of that many ({@link ChunkedStep}: the
     * same loss and gradients, memory of one chunk); 0 for whole sequences.
     *
     * @param model the model
     * @param mp the mixed-precision masters, or null
     * @param opt the optimizer
     * @param gradClip the largest global gradient norm, 0 for none
     * @param accumulation micro-batches per step
     * @param graph whether to capture the step as a CUDA graph
     * @param seqChunk tokens per chunk, 0 for whole sequences
     * @throws IllegalArgumentException for a negative chunk, a graph off a cuda device, or a graph with chunks
     */
    public TrainStep(
            CausalLM model,
            MixedPrecision mp,
            AdamW opt,
            double gradClip,
            int accumulation,
            boolean graph,
            int seqChunk) {
        this.model = model;
        this.mp = mp;
        this.opt = opt;
        this.gradClip = gradClip;
        this.accumulation = accumulation;
        this.graph = graph;
        Device device = model.module().device();
        this.backend = Backends.runtime(device);
        if (graph && device.kind() != Device.Kind.CUDA) {
            throw new IllegalArgumentException(
                    "a captured training step (--cuda-graph) needs the model on a cuda device; it is on " + device);
        }
        if (seqChunk < 0) {
            throw new IllegalArgumentException(
                    "the sequence chunk must be >= 1 token (0: whole sequences), got " + seqChunk);
        }
        if (graph && seqChunk > 0) {
            throw new IllegalArgumentException(
                    "a captured training step (--cuda-graph) does not walk sequences in chunks (--seq-chunk); use one or the other");
        }
        this.chunked = seqChunk > 0 ? new ChunkedStep(model, seqChunk) : null;
    }

    /**
     * Bytes of keys and values a chunked step carried at its end (softmax layers of hybrid models; they grow with the
     * sequence); 0 for a purely recurrent model, -1 before a chunked step ran.
     *
     * @return the bytes, or -1
     */
    public long growingStateBytes() {
        return growingStateBytes;
    }

    /**
     * Runs one step on {@code micro} (one batch per micro-step) with learning rate {@code lr}.
     *
     * @param micro the micro-batches, as many as the accumulation
     * @param lr the learning rate of this step
     * @return the loss and gradient norm
     * @throws IllegalArgumentException when the number of micro-batches differs from the accumulation
     */
    public Outcome run(List<Batch> micro, double lr) {
        if (micro.size() != accumulation) {
            throw new IllegalArgumentException(
                    "train step: " + micro.size() + " micro-batches for " + accumulation + " accumulation steps");
        }
        load(micro);
        opt.setLr(lr);
        opt.advance();
        if (captured != null) {
            captured.replay();
        } else if (graph && eagerSteps > 0) {
            captured = backend.capture(this::body);
            captured.replay();
        } else {
            try (DeferredChecks checks = backend.deferChecks()) {
                body();
            }
            eagerSteps++;
        }
        double[] l = losses.toDoubleArray();
        double sum = 0;
        for (int m = 0; m < accumulation; m++) {
            sum += l[m];
        }
        return new Outcome(sum / accumulation, l[accumulation]);
    }

    /** The work of a step, on the device only (no host reads: capturable). */
    private void body() {
        opt.zeroGrad();
        if (mp != null) {
            mp.zeroGrad();
        }
        for (int m = 0; m < accumulation; m++) {
            if (chunked != null && inputs[m].size(1) > chunked.chunk()) {
                try (Scope s = Scope.open("step")) {
                    ChunkedStep.Result r = chunked.run(inputs[m], targets[m], 1.0 / accumulation);
                    Views.narrow(losses, 0, m, 1).copyFrom(r.loss().reshape(1));
                    growingStateBytes = r.growingStateBytes();
                }
                continue;
            }
            try (Scope s = Scope.open("step")) {
                Tensor loss = model.loss(inputs[m], targets[m]);
                Tensor scaled = accumulation == 1 ? loss : loss.mul(1.0 / accumulation);
                // Nothing of the forward but the loss is read after the backward: free activations as it goes.
                Autograd.backward(scaled, null, null, Autograd.Free.GRADIENTS_AND_ACTIVATIONS, loss);
                Views.narrow(losses, 0, m, 1).copyFrom(loss.detach().reshape(1));
            }
        }
        if (mp != null) {
            mp.syncGrads();
        }
        try (Scope s = Scope.open("clip")) {
            Views.narrow(losses, 0, accumulation, 1)
                    .copyFrom(GradClip.clipGlobalNormOnDevice(opt.parameters(), gradClip)
                            .reshape(1));
        }
        if (mp != null) {
            mp.updateAndCopy(opt); // the model's 16-bit weights written in the update's pass
        } else {
            opt.update();
        }
    }

    /** Copies the batches into the fixed input tensors (made at the first step; a graph needs the same shapes). */
    private void load(List<Batch> micro) {
        Batch first = micro.get(0);
        int[] shape = {first.batch(), first.seqLen()};
        if (inputs != null && !java.util.Arrays.equals(inputs[0].shape(), shape)) {
            if (captured != null) {
                throw new IllegalArgumentException("a captured training step needs batches of one shape: captured with "
                        + inputs[0].describe() + ", got [" + shape[0] + ", " + shape[1] + "]");
            }
            closeBuffers();
        }
        Device device = model.module().device();
        if (inputs == null) {
            buffers.run(() -> {
                inputs = new Tensor[accumulation];
                targets = new Tensor[accumulation];
                for (int m = 0; m < accumulation; m++) {
                    inputs[m] = Tensor.empty(DType.I32, device, shape);
                    targets[m] = Tensor.empty(DType.I32, device, tokens(shape));
                }
                losses = Tensor.zeros(DType.F64, device, accumulation + 1);
                return null;
            });
        }
        try (Scope tmp = Scope.open("upload")) {
            for (int m = 0; m < accumulation; m++) {
                Batch b = micro.get(m);
                if (b.batch() != shape[0] || b.seqLen() != shape[1]) {
                    throw new IllegalArgumentException("train step: micro-batch " + m + " is [" + b.batch() + ", "
                            + b.seqLen() + "], the first is [" + shape[0] + ", " + shape[1] + "]");
                }
                inputs[m].copyFrom(Tensor.ofInts(b.inputs(), shape));
                targets[m].copyFrom(Tensor.ofInts(b.targets(), tokens(shape)));
            }
        }
    }

    /** B·T, which a flat target tensor must be able to index. */
    private static int tokens(int[] shape) {
        long n = (long) shape[0] * shape[1];
        if (n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("train step: a batch of " + shape[0] + " × " + shape[1] + " = " + n
                    + " tokens is more than one tensor holds (" + Integer.MAX_VALUE
                    + "); use fewer sequences per micro-batch");
        }
        return (int) n;
    }

    private void closeBuffers() {
        buffers.close();
        buffers = Scope.detached("train step");
        inputs = null;
    }

    /**
     * Device memory held by the captured graph's private pool (0 when none is captured).
     *
     * @return the bytes
     */
    public long graphPoolBytes() {
        return captured == null ? 0 : captured.poolBytes();
    }

    /** {@return whether a CUDA graph of the step has been captured} */
    public boolean isCaptured() {
        return captured != null;
    }

    @Override
    public void close() {
        if (captured != null) {
            captured.close();
            captured = null;
        }
        buffers.close();
    }
}
