package fulgur.dist;

/** The kinds of operation a {@link ProcessGroup} counts. */
public enum CommOp {
    ALL_REDUCE("allReduce"), ALL_GATHER("allGather"), REDUCE_SCATTER("reduceScatter"), ALL_TO_ALL("allToAll"),
    BROADCAST("broadcast"), SEND("send"), RECV("recv"), BARRIER("barrier");

    private final String label;

    CommOp(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }
}
