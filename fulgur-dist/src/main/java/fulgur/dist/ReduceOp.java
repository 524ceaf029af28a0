package fulgur.dist;

/** How all-reduce and reduce-scatter combine the ranks' values. */
public enum ReduceOp {
    SUM, AVG, MAX, MIN;

    public String label() {
        return name().toLowerCase();
    }
}
