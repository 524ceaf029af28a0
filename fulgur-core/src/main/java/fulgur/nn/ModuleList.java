package fulgur.nn;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;

/**
 * An ordered list of child modules named "0", "1", ... (as torch.nn.ModuleList names them).
 *
 * @param <M> the modules' type
 */
public final class ModuleList<M extends Module> extends Module implements Iterable<M> {
    private final List<M> items = new ArrayList<>();

    /** An empty list. */
    public ModuleList() {}

    /**
     * Appends a module, named by its index.
     *
     * @param m the module
     * @return {@code m}
     */
    public M add(M m) {
        child(Integer.toString(items.size()), m);
        items.add(m);
        return m;
    }

    /**
     * {@return the module at index {@code i}}
     *
     * @param i the index
     * @throws IndexOutOfBoundsException when {@code i} is outside [0, size)
     */
    public M get(int i) {
        return items.get(i);
    }

    /** {@return the number of modules} */
    public int size() {
        return items.size();
    }

    @Override
    public Iterator<M> iterator() {
        return Collections.unmodifiableList(items).iterator();
    }
}
