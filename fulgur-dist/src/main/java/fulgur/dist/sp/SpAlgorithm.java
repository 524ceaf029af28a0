package fulgur.dist.sp;

import java.util.Locale;

/** How the lightning layers pass state between the sequence-parallel ranks. */
public enum SpAlgorithm {
    /** LASP: ring passing of the [B,H,d,e] state forward and of its gradient backward (W−1 serial hops each way). */
    LASP,
    /** LASP-2: one all-gather of the local states forward, one of the state gradients backward, with decay. */
    LASP2;

    public static SpAlgorithm parse(String s) {
        return switch (s.trim().toLowerCase(Locale.ROOT).replace("-", "")) {
            case "lasp", "lasp1" -> LASP;
            case "lasp2" -> LASP2;
            default ->
                throw new IllegalArgumentException(
                        "unknown sequence-parallel algorithm '" + s + "' (expected lasp or lasp2)");
        };
    }

    public String label() {
        return this == LASP ? "lasp" : "lasp2";
    }
}
