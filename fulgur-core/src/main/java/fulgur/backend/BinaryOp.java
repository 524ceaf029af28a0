package fulgur.backend;

/** Elementwise functions of two broadcast tensors. Comparisons give 1 or 0 in the result dtype. */
public enum BinaryOp {
    ADD,
    SUB,
    MUL,
    DIV,
    POW,
    MAXIMUM,
    MINIMUM,
    EQ,
    NE,
    LT,
    LE,
    GT,
    GE
}
