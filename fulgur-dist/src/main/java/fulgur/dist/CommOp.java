package fulgur.dist;

/** The kinds of operation a {@link ProcessGroup} counts. */
public enum CommOp {
    /** {@link ProcessGroup#allReduce}. */
    ALL_REDUCE("allReduce"),
    /** {@link ProcessGroup#allGather}. */
    ALL_GATHER("allGather"),
    /** {@link ProcessGroup#reduceScatter}. */
    REDUCE_SCATTER("reduceScatter"),
    /** {@link ProcessGroup#allToAll}. */
    ALL_TO_ALL("allToAll"),
    /** {@link ProcessGroup#broadcast}. */
    BROADCAST("broadcast"),
    /** {@link ProcessGroup#send}. */
    SEND("send"),
    /** {@link ProcessGroup#recv}. */
    RECV("recv"),
    /** {@link ProcessGroup#barrier}. */
    BARRIER("barrier");

    private final String label;

    CommOp(String label) {
        this.label = label;
    }

    /** {@return the operation's name as the ProcessGroup method is spelled, e.g. "allReduce"} */
    public String label() {
        return label;
    }
}
