package fulgur.autograd;

import fulgur.tensor.Scope;
import fulgur.tensor.Storage;
import fulgur.tensor.Tensor;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;

/**
 * What one backward pass may free early, and when. Storages are counted, not tensors: backward functions return
 * g itself or views of it, so several gradients can share one buffer.
 * <ul>
 *   <li>Gradients: a storage allocated in the pass's scope after the pass began (so by a backward function or the
 *       engine) is freed once no pending gradient sum refers to it. Leaf gradient buffers are never freed.</li>
 *   <li>Activations (only when asked): the storage of a recorded op's output, allocated in the pass's scope before it
 *       began, is freed once the node that made it and every node that reads it as an input have run. Leaves, the
 *       root and inputs that need no gradient are kept. An op whose backward reads a graph tensor that it does not
 *       list among its inputs would then find it freed: that is an exception (a freed storage fails every access),
 *       never a wrong gradient.</li>
 * </ul>
 */
final class Liveness {
    /** Leaf gradient buffers made by {@link Autograd}, also those of nested passes: never freed by a pass. */
    private static final Set<Storage> LEAF_GRADS =
            Collections.synchronizedSet(Collections.newSetFromMap(new WeakHashMap<>()));

    private final Scope scope;
    private final Set<Storage> before;
    private final Map<Storage, Integer> gradRefs = new IdentityHashMap<>();
    /** Remaining nodes that read each freeable activation; null when activations are kept. */
    private final Map<Storage, Integer> activationUses;

    private Liveness(Scope scope, Set<Storage> before, Map<Storage, Integer> activationUses) {
        this.scope = scope;
        this.before = before;
        this.activationUses = activationUses;
    }

    /** Frees nothing (the pass keeps every storage until its scope closes). */
    static Liveness none() {
        return new Liveness(null, null, null);
    }

    static Liveness of(
            Scope scope, Tensor root, Tensor seed, Tensor[] kept, List<Tensor> order, boolean freeActivations) {
        Set<Storage> before = scope.ownedStorages();
        if (!freeActivations) {
            return new Liveness(scope, before, null);
        }
        Set<Storage> keep = Collections.newSetFromMap(new IdentityHashMap<>());
        Set<Storage> made = Collections.newSetFromMap(new IdentityHashMap<>());
        Map<Storage, Integer> uses = new IdentityHashMap<>();
        keep.add(root.storage());
        if (seed != null) {
            keep.add(seed.storage());
        }
        for (Tensor t : kept) {
            keep.add(t.storage());
        }
        for (Tensor t : order) {
            Node node = Node.of(t);
            if (node == null) {
                keep.add(t.storage());
                continue;
            }
            made.add(t.storage());
            for (Storage s : storagesOf(t, node).keySet()) {
                uses.merge(s, 1, Integer::sum);
            }
            for (Tensor in : node.inputs()) {
                if (in != null && !in.requiresGrad()) {
                    keep.add(in.storage());
                }
            }
        }
        uses.keySet()
                .removeIf(s -> !made.contains(s) || keep.contains(s) || !before.contains(s) || LEAF_GRADS.contains(s));
        return new Liveness(scope, before, uses);
    }

    /** The distinct storages a node's backward may read (its output's and its inputs'), each with a tensor on it. */
    private static Map<Storage, Tensor> storagesOf(Tensor out, Node node) {
        Map<Storage, Tensor> s = new IdentityHashMap<>();
        s.put(out.storage(), out);
        for (Tensor in : node.inputs()) {
            if (in != null) {
                s.putIfAbsent(in.storage(), in);
            }
        }
        return s;
    }

    static void markLeafGrad(Tensor buffer) {
        LEAF_GRADS.add(buffer.storage());
    }

    /** A leaf gradient a nested pass made that the enclosing pass uses as an ordinary gradient ({@link Recompute}). */
    static void unmarkLeafGrad(Tensor buffer) {
        LEAF_GRADS.remove(buffer.storage());
    }

    /** A pending gradient sum now refers to g. */
    void hold(Tensor g) {
        if (scope != null) {
            gradRefs.merge(g.storage(), 1, Integer::sum);
        }
    }

    /** A pending gradient sum no longer refers to g: free it if nothing else does. */
    void unhold(Tensor g) {
        if (scope == null) {
            return;
        }
        Storage s = g.storage();
        Integer n = gradRefs.get(s);
        if (n == null) {
            throw new IllegalStateException("autograd: gradient " + g.describe() + " released more often than held");
        }
        if (n == 1) {
            gradRefs.remove(s);
        } else {
            gradRefs.put(s, n - 1);
        }
        done(g);
    }

    /** Whether g's storage was made in this pass and only the one pending gradient being finished refers to it. */
    boolean exclusive(Tensor g) {
        if (scope == null) {
            return false;
        }
        Storage s = g.storage();
        Integer n = gradRefs.get(s);
        return n != null && n == 1 && scope.owns(s) && !before.contains(s) && !LEAF_GRADS.contains(s);
    }

    /** g was read (added into a sum, copied into a slice): free it unless a pending sum refers to it. */
    void done(Tensor g) {
        if (scope == null) {
            return;
        }
        Storage s = g.storage();
        if (!gradRefs.containsKey(s) && scope.owns(s) && !before.contains(s) && !LEAF_GRADS.contains(s)) {
            scope.release(g);
        }
    }

    /** The node that produced {@code out} has run (or will not run): free activations nothing reads any more. */
    void nodeDone(Tensor out, Node node) {
        if (activationUses == null) {
            return;
        }
        for (Map.Entry<Storage, Tensor> e : storagesOf(out, node).entrySet()) {
            Storage s = e.getKey();
            Integer n = activationUses.get(s);
            if (n == null) {
                continue;
            }
            if (n == 1) {
                activationUses.remove(s);
                if (scope.owns(s) && !gradRefs.containsKey(s)) { // a backward may return a saved tensor as a gradient
                    scope.release(e.getValue());
                }
            } else {
                activationUses.put(s, n - 1);
            }
        }
    }
}
