package fulgur.dist.sp;

import fulgur.dist.DistException;
import fulgur.dist.ProcessGroup;
import fulgur.models.SequenceShard;
import fulgur.models.StateCarry;
import fulgur.models.StateCarry.Slot;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import fulgur.train.ChunkedStep;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Sequence parallelism over a sequence walked in chunks: each rank's share of the sequence is itself chunked, and the
 * ranks work on one stretch of the sequence at a time. The sequence is cut into rounds of W·C tokens (W ranks, chunks
 * of C; the last round may be shorter, split evenly); in round g rank r holds the C tokens from g·W·C + r·C, so rank r
 * walks its pieces of every round as its chunks ({@link ChunkedStep}) and each round is one ordinary sequence-parallel
 * step (LASP or LASP-2) over the group. The lightning states the last rank leaves at the end of a round are the first
 * rank's initial states for the next (a header, then the L states), and in the backward their gradients go the other
 * way. Memory per rank is one chunk's activations whatever the length; the rounds keep every rank busy at once.
 * Models whose layers carry more than lightning states (softmax layers' keys and values, GLA or convolution states)
 * are refused: they have no sequence parallelism.
 */
public final class ChunkedSequenceParallel implements ChunkedStep.Link {
    private final ProcessGroup group;
    private final SpAlgorithm algorithm;
    private final int chunk;
    private final Device device;
    private final Backward backward;

    /** How a chunk's backward runs (e.g. with data-parallel gradient synchronisation). */
    @FunctionalInterface
    public interface Backward {
        void run(List<Tensor> roots, List<Tensor> seeds, boolean last, Tensor keep);
    }

    /**
     * @param chunk  tokens per rank and round (C)
     * @param device where the model's states live
     */
    public ChunkedSequenceParallel(
            ProcessGroup group, SpAlgorithm algorithm, int chunk, Device device, Backward backward) {
        if (chunk < 1) {
            throw new IllegalArgumentException("sequence chunks: the chunk length must be >= 1 token, got " + chunk);
        }
        this.group = group;
        this.algorithm = algorithm;
        this.chunk = chunk;
        this.device = device;
        this.backward = backward;
    }

    /**
     * Rank {@code rank}'s tokens of {@code x} [B, T, ...] (T a multiple of {@code ranks}): its piece of every round of
     * {@code ranks}·{@code chunk} tokens, side by side, [B, T/ranks, ...]; the last round's pieces are (T mod W·C)/W long.
     */
    public static Tensor slice(Tensor x, int chunk, int ranks, int rank) {
        long t = x.size(1);
        if (t % ranks != 0) {
            throw new IllegalArgumentException("sequence parallelism: a sequence of " + t
                    + " tokens does not split evenly over " + ranks + " ranks");
        }
        long round = (long) ranks * chunk;
        List<Tensor> pieces = new ArrayList<>();
        for (long start = 0; start < t; start += round) {
            int len = (int) (Math.min(round, t - start) / ranks);
            pieces.add(Views.narrow(x, 1, (int) (start + (long) rank * len), len));
        }
        Tensor mine = pieces.size() == 1 ? pieces.get(0) : Views.concat(1, pieces.toArray(Tensor[]::new));
        return mine.contiguous();
    }

    /** Round c starts at c·W·C; this rank's piece of it {@code plan.length(c)} tokens further per rank before it. */
    @Override
    public long position(long start, fulgur.train.ChunkPlan plan, int c) {
        return start + (long) c * group.size() * chunk + (long) group.rank() * plan.length(c);
    }

    @Override
    public SequenceShard shard(long position, int length, StateCarry carry) {
        SequenceLayout layout = SequenceLayout.even(Math.multiplyExact(length, group.size()), group.size());
        return new SequenceShard(
                position,
                HostStaged.lightning(new SequenceParallelLightning(group, algorithm, layout)),
                HostStaged.softmax(new Lasp2hAttention(group, layout)),
                carry);
    }

    /** The last rank's final states become the first rank's initial states for the next round. */
    @Override
    public Map<Slot, Tensor> handOn(Map<Slot, Tensor> finals, int c) {
        return pass(finals, group.size() - 1, 0, "states after round " + c);
    }

    /** The first rank's initial-state gradients become the last rank's final-state gradients of the round before. */
    @Override
    public Map<Slot, Tensor> handBack(Map<Slot, Tensor> grads, int c) {
        return pass(grads, 0, group.size() - 1, "state gradients of round " + c);
    }

    @Override
    public void backward(List<Tensor> roots, List<Tensor> seeds, boolean last, Tensor keep) {
        backward.run(roots, seeds, last, keep);
    }

    /** Sends {@code states} from rank {@code from} to rank {@code to}; returns what this rank holds afterwards. */
    private Map<Slot, Tensor> pass(Map<Slot, Tensor> states, int from, int to, String what) {
        if (from == to) {
            return states;
        }
        int rank = group.rank();
        if (rank == from) {
            Tensor header = Tensor.zeros(DType.I64, 1 + 6 * states.size());
            header.setFlat(0, states.size());
            int i = 0;
            for (Map.Entry<Slot, Tensor> e : states.entrySet()) {
                Slot slot = e.getKey();
                Tensor t = e.getValue();
                if (!StateCarry.LIGHTNING.equals(slot.part()) || t.ndim() != 4) {
                    throw new DistException(
                            "sequence parallelism over chunks carries lightning states only; this model also carries "
                                    + slot + " " + t.describe() + " (its layers have no sequence parallelism)");
                }
                long[] h = {slot.layer(), t.dtype() == DType.F64 ? 1 : 0, t.size(0), t.size(1), t.size(2), t.size(3)};
                for (long v : h) {
                    header.setFlat(1 + i++, v);
                }
            }
            group.send(Tensor.ofLongs(new long[] {states.size()}, 1), to).await();
            group.send(header, to).await();
            for (Tensor t : states.values()) {
                group.send(t.detach().contiguous(), to).await();
            }
            return Map.of();
        }
        if (rank != to) {
            return Map.of();
        }
        Tensor count = Tensor.zeros(DType.I64, 1);
        group.recv(count, from).await();
        int n = (int) count.getFlat(0);
        Tensor header = Tensor.zeros(DType.I64, 1 + 6 * n);
        group.recv(header, from).await();
        if (header.getFlat(0) != n) {
            throw new DistException("sequence parallelism over chunks: the " + what + " arrived garbled ("
                    + header.getFlat(0) + " of " + n + " states)");
        }
        Map<Slot, Tensor> out = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            int at = 1 + 6 * i;
            int layer = (int) header.getFlat(at);
            DType dt = header.getFlat(at + 1) == 1 ? DType.F64 : DType.F32;
            int[] shape = {
                (int) header.getFlat(at + 2),
                (int) header.getFlat(at + 3),
                (int) header.getFlat(at + 4),
                (int) header.getFlat(at + 5)
            };
            Tensor t = Tensor.empty(dt, device, shape);
            group.recv(t, from).await();
            out.put(new Slot(layer, StateCarry.LIGHTNING), t);
        }
        return out;
    }
}
