package fulgur.tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * An explicit lifetime for tensors. Storages allocated while a scope is open on the current thread belong to it and
 * are freed when it closes, except those moved out with {@link #keep}. Without an open scope, storages belong to the
 * thread-independent {@link #root() root scope}, which lives until it is closed explicitly: parameters and optimizer
 * state go there or into a long-lived scope of their own.
 *
 * <pre>{@code
 * try (Scope step = Scope.open()) {
 *     Tensor loss = model.loss(batch);
 *     loss.backward();
 *     lossValue = loss.item();
 * } // activations and temporaries freed here
 * }</pre>
 */
public final class Scope implements AutoCloseable {
    private static final Scope ROOT = new Scope(null, "root");
    private static final ThreadLocal<ArrayDeque<Scope>> STACK = ThreadLocal.withInitial(ArrayDeque::new);

    private final Scope parent;
    private final String name;
    private final Set<Storage> owned = new LinkedHashSet<>(); // storages compare by identity
    private boolean closed;

    private Scope(Scope parent, String name) {
        this.parent = parent;
        this.name = name;
    }

    /**
     * Opens a scope nested in the current one on this thread.
     *
     * @return the scope, to close with try-with-resources
     */
    public static Scope open() {
        return open("scope");
    }

    /**
     * Opens a scope nested in the current one on this thread.
     *
     * @param name a name for error messages and leak reports
     * @return the scope, to close with try-with-resources
     */
    public static Scope open(String name) {
        Scope s = new Scope(current(), name);
        STACK.get().push(s);
        return s;
    }

    /**
     * A scope that is not entered on this thread's stack: tensors go into it only through {@link #adopt} or
     * {@link #run}. For long-lived state such as parameters.
     *
     * @param name a name for error messages
     * @return the scope, to close when the state it holds is no longer needed
     */
    public static Scope detached(String name) {
        return new Scope(ROOT, name);
    }

    /**
     * The innermost open scope of this thread, or the root scope.
     *
     * @return the scope new storages go to
     */
    public static Scope current() {
        Scope s = STACK.get().peek();
        return s == null ? ROOT : s;
    }

    /** {@return the root scope, which owns what is allocated outside any open scope} */
    public static Scope root() {
        return ROOT;
    }

    /**
     * Runs {@code body} with this scope as the current one (allocations inside go here), without closing it.
     *
     * @param <T> what the body returns
     * @param body the code to run
     * @return what the body returned
     */
    public <T> T run(java.util.function.Supplier<T> body) {
        ArrayDeque<Scope> stack = STACK.get();
        stack.push(this);
        try {
            return body.get();
        } finally {
            stack.remove(this);
        }
    }

    synchronized void register(Storage s) {
        if (closed) {
            throw new IllegalStateException("allocation into closed scope '" + name + "'");
        }
        owned.add(s);
        s.setOwner(this);
    }

    /**
     * Moves the tensor's storage into this scope (it then lives as long as this scope).
     *
     * @param t a tensor owned by any scope
     * @return {@code t}
     */
    public Tensor adopt(Tensor t) {
        Storage s = t.storage();
        Scope from = s.owner();
        if (from == this) {
            return t;
        }
        if (from != null) {
            from.forget(s);
        }
        register(s);
        return t;
    }

    /**
     * Moves the tensors' storages out of this scope into its parent, so they survive its closing.
     *
     * @param t a tensor (left where it is unless this scope owns it)
     * @return {@code t}
     */
    public Tensor keep(Tensor t) {
        if (parent == null) {
            return t;
        }
        if (t.storage().owner() == this) {
            forget(t.storage());
            parent.register(t.storage());
        }
        return t;
    }

    /**
     * Moves each tensor's storage out of this scope into its parent, so they survive its closing.
     *
     * @param ts the tensors (each left where it is unless this scope owns it)
     */
    public void keep(Tensor... ts) {
        for (Tensor t : ts) {
            keep(t);
        }
    }

    private synchronized void forget(Storage s) {
        owned.remove(s);
    }

    /**
     * Frees the tensor's storage now, before the scope closes (the autograd engine frees gradients it no longer
     * needs this way). The tensor and every view of it then fail {@link Tensor#checkAlive} and every kernel.
     *
     * @param t a tensor owned by this scope
     * @throws IllegalArgumentException when this scope does not own the tensor's storage
     */
    public void release(Tensor t) {
        Storage s = t.storage();
        synchronized (this) {
            if (s.owner() != this || !owned.remove(s)) {
                throw new IllegalArgumentException("release: " + t.describe() + " does not belong to " + this);
            }
        }
        s.release();
    }

    /**
     * Whether this scope owns (and will free) the storage.
     *
     * @param s the storage
     * @return true when this scope owns it
     */
    public synchronized boolean owns(Storage s) {
        return s.owner() == this && owned.contains(s);
    }

    /**
     * The storages this scope owns now (a copy; compared by identity).
     *
     * @return the storages
     */
    public synchronized Set<Storage> ownedStorages() {
        Set<Storage> copy = Collections.newSetFromMap(new IdentityHashMap<>(owned.size() * 2));
        copy.addAll(owned);
        return copy;
    }

    /**
     * Bytes of storage this scope owns now.
     *
     * @return the sum of their byte sizes
     */
    public synchronized long ownedBytes() {
        long n = 0;
        for (Storage s : owned) {
            n += s.byteSize();
        }
        return n;
    }

    /** {@return the number of storages this scope owns now} */
    public synchronized int ownedCount() {
        return owned.size();
    }

    @Override
    public void close() {
        if (this == ROOT) {
            throw new IllegalStateException("the root scope cannot be closed");
        }
        ArrayDeque<Scope> stack = STACK.get();
        stack.remove(this);
        List<Storage> toFree;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            toFree = new ArrayList<>(owned);
            owned.clear();
        }
        for (Storage s : toFree) {
            s.release();
        }
    }

    @Override
    public String toString() {
        return "Scope(" + name + ")";
    }
}
