package fulgur.dist.co2;

import fulgur.autograd.GradMode;
import fulgur.dist.ProcessGroup;
import fulgur.dist.ReduceOp;
import fulgur.dist.Work;
import fulgur.ops.Elementwise;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The outer loop of CO2 (Sun et al., ICLR 2024) over a data-parallel group. Every rank runs its own inner optimizer on
 * its own batches; this class is told after each inner step ({@link #afterInnerStep}). A round is τ inner steps from
 * the round's start u_r, common to all ranks. At its end the rank starts a non-blocking average of its parameters y_r
 * (a reduce-scatter: each rank receives the mean of its slice) and begins the next round at once from u_{r+1}. The
 * average is consumed one round later: in the middle of round r+1 the rank takes its slice of ȳ_r and makes the outer
 * step on that slice,
 * <pre>
 *   Δ = u_r − ȳ_r          (the round's pseudo-gradient: how far the ranks moved, on average)
 *   m ← β·m + Δ / Λ        (Λ ≥ 1: staleness gap penalty)
 *   m ← clamp(m, −φ, φ)    (outer momentum clipping, elementwise; φ = 0: off)
 *   u_{r+2} = u_{r+1} − α·m
 * </pre>
 * then starts a non-blocking all-gather of the new slice, which the second half of round r+1 covers; at the end of
 * round r+1 every rank continues from u_{r+2}. So each round's progress is applied exactly once, one round late, and
 * both transfers hide behind half a round of computation each (with τ = 1 the all-gather is waited for at once).
 * The first round's average is consumed in the second round, which therefore starts, like the first, from u_0.
 *
 * <p>The outer state (u, the previous round's start, m) is sharded: each rank keeps the slice it receives, about 3/N
 * floats per parameter. With {@link Co2Config#staleness()} 0 the average is waited for at the end of its round and
 * the outer step uses the round's own start (SlowMo's synchronous outer step, which is what the released CO2 code
 * does): with τ = 1, α = 1, β = 0, Λ = 1 and SGD as the inner optimizer that is synchronous data parallelism.
 *
 * <p>Parameters are f32 tensors, equal on every rank when this is made, updated in place by the inner optimizer.
 */
public final class Co2 implements AutoCloseable {
    private final ProcessGroup group;
    private final Co2Config cfg;
    private final List<Tensor> params;
    private final long[] offsets;
    private final long total;
    private final int slice;
    private final Device device;
    private final Scope state = Scope.detached("co2");
    private final Tensor outer, previous, momentum, average, sent, gathered;
    private final Runnable onReplaced;
    private int step;
    private long round;
    private Work averaging;
    private Work gathering;

    /** What a checkpoint holds of the outer loop; tensors are flat [total] f32, {@code average} null unless one was pending. */
    public record Snapshot(
            int stepInRound,
            long round,
            boolean outerPending,
            Tensor outer,
            Tensor previous,
            Tensor momentum,
            Tensor average) {}

    /**
     * The outer loop over {@code params} (the inner optimizer's, equal on every rank now) and {@code group};
     * {@code onReplaced} runs after the parameters were overwritten by new outer values (e.g. to refresh 16-bit copies).
     */
    public Co2(List<Tensor> params, ProcessGroup group, Co2Config cfg, Runnable onReplaced) {
        this.group = group;
        this.cfg = cfg;
        this.params = List.copyOf(params);
        this.onReplaced = onReplaced == null ? () -> {} : onReplaced;
        this.offsets = new long[params.size() + 1];
        for (int i = 0; i < params.size(); i++) {
            Tensor p = params.get(i);
            if (p.dtype() != DType.F32 || !p.isContiguous()) {
                throw new IllegalArgumentException(
                        "CO2: parameters must be contiguous f32 tensors, got " + p.describe());
            }
            offsets[i + 1] = offsets[i] + p.numel();
        }
        this.total = offsets[params.size()];
        this.device = params.get(0).device();
        int n = group.size();
        this.slice = Shape.toInt("CO2 slice", (total + n - 1) / n);
        int padded = Shape.toInt("CO2 parameters", (long) slice * n);
        try (var off = GradMode.noGrad()) {
            Tensor[] t = state.run(() -> new Tensor[] {
                Tensor.zeros(DType.F32, device, slice),
                Tensor.zeros(DType.F32, device, slice),
                Tensor.zeros(DType.F32, device, slice),
                Tensor.zeros(DType.F32, device, slice),
                Tensor.zeros(DType.F32, device, padded),
                Tensor.zeros(DType.F32, device, padded)
            });
            outer = t[0];
            previous = t[1];
            momentum = t[2];
            average = t[3];
            sent = t[4];
            gathered = t[5];
            pack(sent);
            outer.copyFrom(mine(sent));
            previous.copyFrom(outer);
        }
    }

    public Co2Config config() {
        return cfg;
    }

    /** Inner steps done in the current round. */
    public int stepInRound() {
        return step;
    }

    /** Rounds finished. */
    public long round() {
        return round;
    }

    /** The average of the last finished round, while it is still being reduced (null when none is pending). */
    public Work pendingAverage() {
        return averaging;
    }

    private Tensor mine(Tensor padded) {
        return padded.narrow(0, group.rank() * slice, slice);
    }

    /** Copies the parameters into the flat {@code into} (the padding stays as it is). */
    private void pack(Tensor into) {
        for (int i = 0; i < params.size(); i++) {
            into.narrow(0, (int) offsets[i], (int) params.get(i).numel())
                    .copyFrom(params.get(i).reshape(-1));
        }
    }

    /** The per-parameter tensors (views) of a flat [total] tensor. */
    public List<Tensor> unflatten(Tensor flat) {
        List<Tensor> out = new ArrayList<>();
        for (int i = 0; i < params.size(); i++) {
            out.add(flat.narrow(0, (int) offsets[i], (int) params.get(i).numel())
                    .reshape(params.get(i).shape()));
        }
        return out;
    }

    /** Called after every inner step: runs the outer step and the round's transfers when their step has come. */
    public void afterInnerStep() {
        step++;
        try (var off = GradMode.noGrad();
                Scope s = Scope.open("co2")) {
            if (cfg.staleness() == 0) {
                if (step == cfg.tau()) {
                    pack(sent);
                    group.reduceScatter(sent, average, ReduceOp.AVG).await();
                    previous.copyFrom(outer);
                    outerStep(outer, previous, average, momentum, outer);
                    gathering = group.allGather(outer, gathered);
                    endRound();
                }
                return;
            }
            if (step == cfg.outerStepAt()) {
                if (averaging != null) {
                    averaging.await();
                    averaging = null;
                    Tensor next = outer.copy();
                    outerStep(outer, previous, average, momentum, next);
                    previous.copyFrom(outer);
                    outer.copyFrom(next);
                } else {
                    previous.copyFrom(
                            outer); // the first round: nothing to consume, the next round starts where this one did
                }
                gathering = group.allGather(outer, gathered);
            }
            if (step == cfg.tau()) {
                pack(sent);
                averaging = group.reduceScatter(sent, average, ReduceOp.AVG);
                endRound();
            }
        }
    }

    /** m ← clamp(β·m + (start − average)/Λ, ±φ); into ← current − α·m (on this rank's slice). */
    private void outerStep(Tensor current, Tensor start, Tensor avg, Tensor m, Tensor into) {
        Tensor delta = start.sub(avg);
        Tensor next = cfg.momentum() == 0
                ? delta.mul(1 / cfg.penalty())
                : m.mul(cfg.momentum()).add(delta.mul(1 / cfg.penalty()));
        if (cfg.clip() > 0) {
            Tensor phi = Tensor.full(DType.F32, device, cfg.clip());
            next = Elementwise.minimum(Elementwise.maximum(next, phi.neg()), phi);
        }
        m.copyFrom(next);
        into.copyFrom(current.sub(m.mul(cfg.outerLr())));
    }

    /** Waits for the new outer parameters and continues from them. */
    private void endRound() {
        gathering.await();
        gathering = null;
        List<Tensor> values = unflatten(gathered);
        for (int i = 0; i < params.size(); i++) {
            params.get(i).copyFrom(values.get(i));
        }
        onReplaced.run();
        step = 0;
        round++;
    }

    /**
     * Collective: the model the ranks agree on, flat [total]: the outer parameters after consuming every finished
     * round (the pending average, if any, is waited for and applied to a copy, leaving the loop as it was).
     */
    public Tensor consensus() {
        try (var off = GradMode.noGrad()) {
            Tensor flat = Tensor.empty(DType.F32, device, (int) ((long) slice * group.size()));
            if (gathering != null) {
                gathering.await();
                flat.copyFrom(gathered);
            } else if (averaging != null) {
                averaging.await();
                Tensor next = Tensor.empty(DType.F32, device, slice);
                outerStep(outer, previous, average, momentum.copy(), next);
                group.allGather(next, flat).await();
            } else {
                group.allGather(outer, flat).await();
            }
            return flat.narrow(0, 0, (int) total);
        }
    }

    /** Collective: the loop's state for a checkpoint (a pending average is waited for and included). */
    public Snapshot snapshot() {
        try (var off = GradMode.noGrad()) {
            if (averaging != null) {
                averaging.await();
            }
            if (gathering != null) {
                gathering.await();
            }
            return new Snapshot(
                    step,
                    round,
                    gathering != null,
                    gather(outer),
                    gather(previous),
                    gather(momentum),
                    averaging != null ? gather(average) : null);
        }
    }

    private Tensor gather(Tensor mine) {
        Tensor flat = Tensor.empty(DType.F32, device, (int) ((long) slice * group.size()));
        group.allGather(mine, flat).await();
        return flat.narrow(0, 0, (int) total);
    }

    /**
     * Restores the loop from a snapshot of a run over the same parameters and group size (not collective); the
     * parameters themselves are restored by the caller.
     */
    public void restore(Snapshot s) {
        if (s.outer().numel() != total) {
            throw new IllegalArgumentException(
                    "CO2 state holds " + s.outer().numel() + " parameters, this model has " + total);
        }
        try (var off = GradMode.noGrad()) {
            Tensor padded = Tensor.zeros(DType.F32, device, (int) ((long) slice * group.size()));
            for (Tensor[] pair :
                    new Tensor[][] {{s.outer(), outer}, {s.previous(), previous}, {s.momentum(), momentum}}) {
                padded.narrow(0, 0, (int) total).copyFrom(pair[0]);
                pair[1].copyFrom(mine(padded));
            }
            averaging = null;
            if (s.average() != null) {
                padded.narrow(0, 0, (int) total).copyFrom(s.average());
                average.copyFrom(mine(padded));
                averaging = Work.completed();
            }
            gathering = null;
            if (s.outerPending()) {
                gathered.narrow(0, 0, (int) total).copyFrom(s.outer());
                gathering = Work.completed();
            }
            step = s.stepInRound();
            round = s.round();
        }
    }

    @Override
    public void close() {
        // the last round's transfers may still be in flight (with a stale average, always): they read and write these
        // buffers on every rank once the last rank joins them, so they are waited for before the buffers are freed
        // (freed at once, another allocation could take the memory and be overwritten by them)
        try {
            for (Work w : new Work[] {averaging, gathering}) {
                if (w != null) {
                    w.await();
                }
            }
        } finally {
            averaging = null;
            gathering = null;
            state.close();
        }
    }
}
