package fulgur.data;

/** Derives independent, reproducible seeds from a base seed and indices (SplitMix64 mixing). */
final class Seeds {

    private Seeds() {}

    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** A seed for stream {@code a}, item {@code b} of base seed {@code seed}. */
    static long derive(long seed, long a, long b) {
        return mix(mix(mix(seed + 0x9E3779B97F4A7C15L) ^ a) + 0x9E3779B97F4A7C15L ^ b);
    }
}
