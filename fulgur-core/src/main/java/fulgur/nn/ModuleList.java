package fulgur.nn;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;

/** An ordered list of child modules named "0", "1", ... (as torch.nn.ModuleList names them). */
public final class ModuleList<M extends Module> extends Module implements Iterable<M> {
    private final List<M> items = new ArrayList<>();

    public M add(M m) {
        child(Integer.toString(items.size()), m);
        items.add(m);
        return m;
    }

    public M get(int i) {
        return items.get(i);
    }

    public int size() {
        return items.size();
    }

    @Override
    public Iterator<M> iterator() {
        return Collections.unmodifiableList(items).iterator();
    }
}
