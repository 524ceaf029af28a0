package fulgur.backend;

/** Elementwise functions of one tensor; some take a scalar parameter (noted). */
public enum UnaryOp {
    NEG,
    EXP,
    LOG,
    SQRT,
    RSQRT,
    ABS,
    SILU,
    SIGMOID,
    TANH,
    /** Exact GELU, x·Φ(x). */
    GELU,
    /** GELU with the tanh approximation. */
    GELU_TANH,
    RELU,
    SOFTPLUS,
    LOGSIGMOID,
    SQUARE,
    RECIPROCAL,
    SIN,
    COS,
    /** x^p, p = parameter. */
    POW,
    /** x + c, c = parameter. */
    ADD_SCALAR,
    /** x · c, c = parameter. */
    MUL_SCALAR
}
