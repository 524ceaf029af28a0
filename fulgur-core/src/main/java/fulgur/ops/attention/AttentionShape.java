package fulgur.ops.attention;

/** Sizes of one softmax-attention call: q [batch, tq, heads, d], k [batch, tk, kvHeads, d], v [batch, tk, kvHeads, dv]. */
record AttentionShape(int batch, int tq, int tk, int heads, int kvHeads, int d, int dv) {

    /** Query heads per key/value head. */
    int group() {
        return heads / kvHeads;
    }

    long qRow(int b, int i, int h) {
        return (((long) b * tq + i) * heads + h) * d;
    }

    long oRow(int b, int i, int h) {
        return (((long) b * tq + i) * heads + h) * dv;
    }

    long kRow(int b, int j, int g) {
        return (((long) b * tk + j) * kvHeads + g) * d;
    }

    long vRow(int b, int j, int g) {
        return (((long) b * tk + j) * kvHeads + g) * dv;
    }

    long lseIndex(int b, int h, int i) {
        return ((long) b * heads + h) * tq + i;
    }
}
