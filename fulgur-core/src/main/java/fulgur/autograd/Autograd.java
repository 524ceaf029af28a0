package fulgur.autograd;

import fulgur.backend.Backends;
import fulgur.tensor.Scope;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/** The reverse-mode engine: runs recorded nodes in reverse topological order and accumulates leaf gradients. */
public final class Autograd {
    private Autograd() {}

    /**
     * Records {@code out} as produced by {@code op} from {@code inputs} when gradient mode is on and any input needs a
     * gradient. Returns {@code out}.
     *
     * @param op the op's name, shown in errors and by {@link fulgur.tensor.GradFn#op()}
     * @param out the op's output
     * @param inputs the op's inputs, in the order {@code backward} returns their gradients
     * @param backward maps the output's gradient to one gradient per input
     * @return {@code out}
     */
    public static Tensor record(String op, Tensor out, Tensor[] inputs, Node.Backward backward) {
        if (!GradMode.isEnabled()) {
            return out;
        }
        for (Tensor t : inputs) {
            if (t != null && t.requiresGrad()) {
                return out.withGradFn(new Node(op, inputs, backward));
            }
        }
        return out;
    }

    /**
     * As {@link #record(String, Tensor, Tensor[], Node.Backward)}, for a backward that may fold the gradient summed so
     * far for an input into its own (see {@link Node.FoldingBackward}).
     *
     * @param op the op's name
     * @param out the op's output
     * @param inputs the op's inputs, in the order {@code backward} returns their gradients
     * @param backward maps the output's gradient (and the inputs' partial sums) to one gradient per input
     * @return {@code out}
     */
    public static Tensor record(String op, Tensor out, Tensor[] inputs, Node.FoldingBackward backward) {
        return record(op, out, inputs, (Node.Backward) backward);
    }

    /**
     * Records {@code out}, a view of [start, start + length) on {@code axis} of {@code x} (of shape {@code full}), so
     * that the engine accumulates its gradient straight into a slice of x's gradient; {@code backward} (the padded
     * gradient) is what the op's gradient means, for reference.
     *
     * @param op the op's name
     * @param out the slice
     * @param x the tensor sliced
     * @param axis the dimension sliced
     * @param start the slice's first position on {@code axis}
     * @param full the shape of {@code x}
     * @param backward the op's gradient (pads the output's gradient to {@code full})
     * @return {@code out}
     */
    public static Tensor recordSlice(
            String op, Tensor out, Tensor x, int axis, int start, int[] full, Node.Backward backward) {
        if (!GradMode.isEnabled() || !x.requiresGrad()) {
            return out;
        }
        return out.withGradFn(new Node(op, new Tensor[] {x}, backward, new Node.Slice(axis, start, full.clone())));
    }

    /**
     * Whether an op on {@code inputs} must be recorded: gradient mode is on and an input requires gradients.
     *
     * @param inputs the op's inputs (null entries ignored)
     * @return true when the op must be recorded
     */
    public static boolean needsGrad(Tensor... inputs) {
        if (!GradMode.isEnabled()) {
            return false;
        }
        for (Tensor t : inputs) {
            if (t != null && t.requiresGrad()) {
                return true;
            }
        }
        return false;
    }

    /**
     * Reverse-mode differentiation from {@code root}: accumulates the gradient of Σ⟨seed, root⟩ into every leaf's
     * {@link Tensor#grad()}, freeing intermediate gradients as soon as they are dead.
     *
     * @param root the output, which must require gradients
     * @param seed its gradient (root's shape), or null for a scalar root (seed 1)
     * @throws IllegalArgumentException when the seed's shape differs from root's, or it is null for a non-scalar root
     * @throws IllegalStateException when root does not require gradients
     */
    public static void backward(Tensor root, Tensor seed) {
        backward(root, seed, null);
    }

    /**
     * Backward that also calls {@code onLeafGrad} with each leaf as soon as its gradient of this pass has been
     * accumulated (once per leaf and pass, in the order the engine finishes them), for example to start
     * communicating a parameter's gradient while the rest of the backward runs.
     *
     * @param root the output, which must require gradients
     * @param seed its gradient (root's shape), or null for a scalar root (seed 1)
     * @param onLeafGrad called with each leaf once its gradient is final, or null
     * @throws IllegalArgumentException when the seed's shape differs from root's, or it is null for a non-scalar root
     * @throws IllegalStateException when root does not require gradients
     */
    public static void backward(Tensor root, Tensor seed, java.util.function.Consumer<Tensor> onLeafGrad) {
        backward(root, seed, onLeafGrad, DEFAULT_FREE);
    }

    /**
     * What the backward calls that do not say free: {@link Free#GRADIENTS} unless the system property
     * {@code fulgur.backward.free} names another {@link Free} (NOTHING to rule the engine's freeing out when chasing
     * a bug; GRADIENTS_AND_ACTIVATIONS to test that every op lists what its backward reads).
     */
    private static final Free DEFAULT_FREE = defaultFree();

    private static Free defaultFree() {
        String v = System.getProperty("fulgur.backward.free");
        if (v == null || v.isBlank()) {
            return Free.GRADIENTS;
        }
        try {
            return Free.valueOf(v.trim().toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    "fulgur.backward.free: " + v + " is not one of " + java.util.Arrays.toString(Free.values()), e);
        }
    }

    /** What a backward pass frees as soon as nothing will read it again (everything else lives until its scope closes). */
    public enum Free {
        /** Nothing: every gradient intermediate lives until the scope closes. */
        NOTHING,
        /** Gradient intermediates the pass made in the current scope (the default). */
        GRADIENTS,
        /**
         * Also the forward's activations: outputs of recorded ops made in the current scope, once every node that
         * reads them has run. For training steps whose caller reads nothing of the forward after the backward but
         * the root (the loss) and the leaves; reading any other forward tensor afterwards is an error.
         */
        GRADIENTS_AND_ACTIVATIONS
    }

    /**
     * Backward that frees what {@code free} says as soon as it is dead (see {@link Free}), except the storages of
     * {@code keep} (forward tensors the caller reads afterwards, e.g. the unscaled loss).
     *
     * @param root the output, which must require gradients
     * @param seed its gradient (root's shape), or null for a scalar root (seed 1)
     * @param onLeafGrad called with each leaf once its gradient is final, or null
     * @param free which dead tensors the pass frees
     * @param keep forward tensors whose storage must survive
     * @throws IllegalArgumentException when the seed's shape differs from root's, or it is null for a non-scalar root
     * @throws IllegalStateException when root does not require gradients
     */
    public static void backward(
            Tensor root, Tensor seed, java.util.function.Consumer<Tensor> onLeafGrad, Free free, Tensor... keep) {
        backward(List.of(root), java.util.Collections.singletonList(seed), onLeafGrad, free, keep);
    }

    /**
     * One backward pass from several outputs at once, each with its seed gradient (null: ones, for a scalar): the
     * gradient of Σ_i ⟨seed_i, root_i⟩. Every root must require gradients. A long sequence trained in chunks runs it
     * from a chunk's loss and the final states whose gradients the next chunk gave back.
     *
     * @param roots the outputs, each requiring gradients
     * @param seeds one gradient per root (its shape), null entries for scalar roots
     * @param onLeafGrad called with each leaf once its gradient is final, or null
     * @param free which dead tensors the pass frees
     * @param keep forward tensors whose storage must survive
     * @throws IllegalArgumentException when the lists differ in length or are empty, or a seed does not fit its root
     * @throws IllegalStateException when a root does not require gradients, or an op's backward returns gradients of
     *     the wrong number or shape
     */
    public static void backward(
            List<Tensor> roots,
            List<Tensor> seeds,
            java.util.function.Consumer<Tensor> onLeafGrad,
            Free free,
            Tensor... keep) {
        if (roots.isEmpty() || roots.size() != seeds.size()) {
            throw new IllegalArgumentException("backward: " + roots.size() + " outputs and " + seeds.size()
                    + " seeds (expected as many, at least one)");
        }
        List<Tensor> kept = new ArrayList<>(List.of(keep));
        List<Tensor> filledSeeds = new ArrayList<>(roots.size());
        for (int i = 0; i < roots.size(); i++) {
            Tensor root = roots.get(i);
            Tensor seed = seeds.get(i);
            if (!root.requiresGrad()) {
                throw new IllegalStateException(
                        "backward: " + root.describe() + " does not require gradients (no input of its graph does)");
            }
            if (seed != null && !root.sameShape(seed)) {
                throw new IllegalArgumentException(
                        "backward: seed shape " + Shape.str(seed.shape()) + " differs from output " + root.describe());
            }
            if (seed == null && root.numel() != 1) {
                throw new IllegalArgumentException("backward: implicit seed needs a scalar output, got "
                        + root.describe() + "; pass a seed gradient");
            }
            if (i > 0) {
                kept.add(root);
                if (seed != null) {
                    kept.add(seed);
                }
            }
        }
        List<Tensor> order = topologicalOrder(roots);
        Liveness live = free == Free.NOTHING
                ? Liveness.none()
                : Liveness.of(
                        Scope.current(),
                        roots.get(0),
                        seeds.get(0),
                        kept.toArray(Tensor[]::new),
                        order,
                        free == Free.GRADIENTS_AND_ACTIVATIONS);
        for (int i = 0; i < roots.size(); i++) {
            Tensor root = roots.get(i);
            Tensor seed = seeds.get(i);
            filledSeeds.add(
                    seed != null ? seed : Tensor.full(root.dtype().computeType(), root.device(), 1.0, root.shape()));
        }
        Map<Tensor, GradSum> grads = new IdentityHashMap<>();
        try (GradMode.Guard ignored = GradMode.noGrad()) {
            for (int i = 0; i < roots.size(); i++) {
                GradSum.add(grads, roots.get(i), filledSeeds.get(i), live);
            }
            for (Tensor t : order) {
                GradSum sum = grads.remove(t);
                Node node = Node.of(t);
                if (sum == null) {
                    if (node != null) {
                        live.nodeDone(t, node);
                    }
                    continue;
                }
                Tensor g = sum.finish();
                if (node == null) {
                    accumulateLeaf(t, g, live);
                    live.unhold(g);
                    if (onLeafGrad != null) {
                        onLeafGrad.accept(t);
                    }
                    continue;
                }
                Node.Slice slice = node.slice();
                if (slice != null) {
                    GradSum.addSlice(grads, node.inputs()[0], g, slice, live);
                    live.unhold(g);
                    live.nodeDone(t, node);
                    continue;
                }
                Tensor[] inputs = node.inputs();
                PartialGrads partial = null;
                Tensor[] inGrads;
                if (node.backwardFn() instanceof Node.FoldingBackward fold) {
                    partial = new PartialGrads(
                            i -> {
                                Tensor in = inputs[i];
                                GradSum s = in == null || !in.requiresGrad() ? null : grads.get(in);
                                return s == null ? null : s.partial();
                            },
                            inputs.length);
                    inGrads = fold.apply(g, partial);
                } else {
                    inGrads = node.backwardFn().apply(g);
                }
                if (inGrads.length != inputs.length) {
                    throw new IllegalStateException("backward of " + node.op() + " returned " + inGrads.length
                            + " gradients for " + inputs.length + " inputs");
                }
                for (int i = 0; i < inputs.length; i++) {
                    Tensor in = inputs[i];
                    Tensor gi = inGrads[i];
                    boolean folded = partial != null && partial.taken(i);
                    if (gi == null) {
                        if (folded) {
                            throw new IllegalStateException("backward of " + node.op() + " took input " + i
                                    + "'s partial gradient and returned none");
                        }
                        continue;
                    }
                    if (in == null || !in.requiresGrad()) {
                        live.done(gi);
                        continue;
                    }
                    if (!in.sameShape(gi)) {
                        throw new IllegalStateException("backward of " + node.op() + ": gradient shape "
                                + Shape.str(gi.shape()) + " does not match input " + in.describe());
                    }
                    if (folded) {
                        grads.get(in).replace(gi, live);
                    } else {
                        GradSum.add(grads, in, gi, live);
                    }
                }
                live.unhold(g);
                live.nodeDone(t, node);
            }
        }
    }

    /**
     * Adds {@code g} into the leaf's gradient buffer, which lives in the scope that owns the leaf. The first gradient
     * becomes the buffer itself (moved to that scope, no copy) when nothing else can see it: made in this pass,
     * referred to by no other pending gradient, and exactly a whole contiguous storage of the right dtype.
     */
    private static void accumulateLeaf(Tensor leaf, Tensor g, Liveness live) {
        Scope owner = leaf.storage().owner();
        Scope target = owner == null ? Scope.root() : owner;
        Tensor prev = leaf.grad();
        if (prev == null
                && g.dtype() == leaf.dtype().computeType()
                && g.device().equals(leaf.device())
                && g.isContiguous()
                && g.offset() == 0
                && g.storage().byteSize() == g.numel() * g.dtype().byteSize()
                && live.exclusive(g)) {
            target.adopt(g);
            Liveness.markLeafGrad(g);
            leaf.setGrad(g);
        } else if (prev == null) {
            Tensor buf = target.run(() -> Tensor.empty(leaf.dtype().computeType(), leaf.device(), leaf.shape()));
            buf.copyFrom(g);
            Liveness.markLeafGrad(buf);
            leaf.setGrad(buf);
        } else if (prev.dtype() == g.dtype() && prev.device().equals(g.device())) {
            Backends.of(prev).addInto(prev, g);
        } else {
            prev.copyFrom(GradSum.add(prev, g));
        }
    }

    /** Tensors reachable from the roots, each after every tensor that depends on it (reversed depth-first post-order). */
    private static List<Tensor> topologicalOrder(List<Tensor> roots) {
        List<Tensor> post = new ArrayList<>();
        Map<Tensor, Boolean> visited = new IdentityHashMap<>();
        ArrayDeque<Object[]> stack = new ArrayDeque<>();
        for (Tensor root : roots) {
            if (visited.containsKey(root)) {
                continue;
            }
            stack.push(new Object[] {root, 0});
            visited.put(root, true);
            walk(stack, visited, post);
        }
        java.util.Collections.reverse(post);
        return post;
    }

    private static void walk(ArrayDeque<Object[]> stack, Map<Tensor, Boolean> visited, List<Tensor> post) {
        while (!stack.isEmpty()) {
            Object[] frame = stack.peek();
            Tensor t = (Tensor) frame[0];
            int next = (int) frame[1];
            Node node = Node.of(t);
            Tensor[] inputs = node == null ? new Tensor[0] : node.inputs();
            if (next < inputs.length) {
                frame[1] = next + 1;
                Tensor in = inputs[next];
                if (in != null && in.requiresGrad() && !visited.containsKey(in)) {
                    visited.put(in, true);
                    stack.push(new Object[] {in, 0});
                }
            } else {
                stack.pop();
                post.add(t);
            }
        }
    }
}
