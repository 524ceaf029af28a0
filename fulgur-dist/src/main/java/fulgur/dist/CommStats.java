package fulgur.dist;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * What one rank moved through one group, per kind of operation: calls, elements and bytes. The element count of an
 * operation is what this rank contributes: the tensor for all-reduce and broadcast, the input for all-gather and
 * reduce-scatter, the message for send and recv. Thread-safe.
 */
public final class CommStats {
    private final AtomicLongArray calls = new AtomicLongArray(CommOp.values().length);
    private final AtomicLongArray elements = new AtomicLongArray(CommOp.values().length);
    private final AtomicLongArray bytes = new AtomicLongArray(CommOp.values().length);

    /** Counters at zero. */
    public CommStats() {}

    /**
     * Counts one operation.
     *
     * @param op its kind
     * @param elementCount the elements this rank contributed
     * @param byteCount their bytes
     */
    public void record(CommOp op, long elementCount, long byteCount) {
        calls.incrementAndGet(op.ordinal());
        elements.addAndGet(op.ordinal(), elementCount);
        bytes.addAndGet(op.ordinal(), byteCount);
    }

    /**
     * {@return the calls of kind {@code op}}
     *
     * @param op the kind
     */
    public long calls(CommOp op) {
        return calls.get(op.ordinal());
    }

    /**
     * {@return the elements moved by calls of kind {@code op}}
     *
     * @param op the kind
     */
    public long elements(CommOp op) {
        return elements.get(op.ordinal());
    }

    /**
     * {@return the bytes moved by calls of kind {@code op}}
     *
     * @param op the kind
     */
    public long bytes(CommOp op) {
        return bytes.get(op.ordinal());
    }

    /** {@return the bytes moved by all calls} */
    public long totalBytes() {
        long n = 0;
        for (CommOp op : CommOp.values()) {
            n += bytes(op);
        }
        return n;
    }

    /**
     * Calls per kind, only the kinds used.
     *
     * @return the counts, in {@link CommOp} order
     */
    public Map<CommOp, Long> callCounts() {
        Map<CommOp, Long> m = new EnumMap<>(CommOp.class);
        for (CommOp op : CommOp.values()) {
            if (calls(op) > 0) {
                m.put(op, calls(op));
            }
        }
        return m;
    }

    /** Sets every counter to 0. */
    public void reset() {
        for (int i = 0; i < CommOp.values().length; i++) {
            calls.set(i, 0);
            elements.set(i, 0);
            bytes.set(i, 0);
        }
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("CommStats[");
        for (CommOp op : CommOp.values()) {
            if (calls(op) > 0) {
                sb.append(sb.length() > 10 ? ", " : "")
                        .append(op.label())
                        .append(": ")
                        .append(calls(op))
                        .append(" calls, ")
                        .append(elements(op))
                        .append(" elements");
            }
        }
        return sb.append(']').toString();
    }
}
