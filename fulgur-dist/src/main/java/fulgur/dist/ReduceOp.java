package fulgur.dist;

/** How all-reduce and reduce-scatter combine the ranks' values. */
public enum ReduceOp {
    /** The sum. */
    SUM,
    /** The sum divided by the number of ranks. */
    AVG,
    /** The largest value. */
    MAX,
    /** The smallest value. */
    MIN;

    /** {@return the name in lower case, for messages} */
    public String label() {
        return name().toLowerCase();
    }
}
