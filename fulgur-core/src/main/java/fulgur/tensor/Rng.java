package fulgur.tensor;

/**
 * Seeded, counter-based random numbers: element i of the n-th tensor drawn from a generator is a pure function of
 * (seed, n, i), so the same seed gives the same tensors on any run and with any number of threads. The state is two
 * longs ({@link #seed()}, {@link #counter()}) and can be saved in a checkpoint and restored.
 */
public final class Rng {
    private final long seed;
    private long counter;

    /**
     * A generator at the start of the stream sequence of {@code seed}.
     *
     * @param seed any long; equal seeds give equal tensors
     */
    public Rng(long seed) {
        this(seed, 0);
    }

    /**
     * A generator restored from a saved state.
     *
     * @param seed the seed, as returned by {@link #seed()}
     * @param counter the number of streams already drawn, as returned by {@link #counter()}
     */
    public Rng(long seed, long counter) {
        this.seed = seed;
        this.counter = counter;
    }

    /** {@return the seed} */
    public long seed() {
        return seed;
    }

    /** {@return the number of streams drawn so far: with the seed, the whole state} */
    public long counter() {
        return counter;
    }

    /**
     * Reserves a fresh stream for one tensor (or one draw) and returns its key.
     *
     * @return the stream key for {@link #bits}, {@link #uniform(long, long)} and {@link #normal(long, long)}
     */
    public synchronized long nextStream() {
        return mix(seed ^ mix(++counter * 0x9E3779B97F4A7C15L));
    }

    /**
     * A uniform long from a stream key and an index.
     *
     * @param stream a key from {@link #nextStream()}
     * @param index the element index within the stream
     * @return 64 uniform bits
     */
    public static long bits(long stream, long index) {
        return mix(stream + mix(index + 0x632BE59BD9B4E019L));
    }

    /**
     * A uniform double in [0, 1) with 53 random bits.
     *
     * @param stream a key from {@link #nextStream()}
     * @param index the element index within the stream
     * @return a uniform value in [0, 1)
     */
    public static double uniform(long stream, long index) {
        return (bits(stream, index) >>> 11) * 0x1.0p-53;
    }

    /**
     * A standard normal from a stream key and an index: Box-Muller on the two uniforms of pair index/2, the cosine
     * branch for even indices and the sine branch for odd ones.
     *
     * @param stream a key from {@link #nextStream()}
     * @param index the element index within the stream
     * @return a standard normal value
     */
    public static double normal(long stream, long index) {
        long pair = index >>> 1;
        double r = boxMullerRadius(stream, pair);
        double angle = boxMullerAngle(stream, pair);
        return (index & 1) == 0 ? r * Math.cos(angle) : r * Math.sin(angle);
    }

    private static double boxMullerRadius(long stream, long pair) {
        double u1 = ((bits(stream, 2 * pair) >>> 11) + 1) * 0x1.0p-53; // (0, 1]
        return Math.sqrt(-2 * Math.log(u1));
    }

    private static double boxMullerAngle(long stream, long pair) {
        return 2 * Math.PI * uniform(stream, 2 * pair + 1);
    }

    /**
     * Next long of a single draw (for sampling, shuffling).
     *
     * @return 64 uniform bits
     */
    public long nextLong() {
        return bits(nextStream(), 0);
    }

    /** {@return a uniform double in [0, 1) from a fresh stream} */
    public double nextDouble() {
        return uniform(nextStream(), 0);
    }

    /**
     * A uniform int in [0, bound) from a fresh stream.
     *
     * @param bound the exclusive upper bound
     * @return the int
     * @throws IllegalArgumentException when {@code bound} ≤ 0
     */
    public int nextInt(int bound) {
        if (bound <= 0) {
            throw new IllegalArgumentException("bound must be positive, got " + bound);
        }
        return (int) Math.floorMod(nextLong(), (long) bound);
    }

    /**
     * Tensor of N(mean, std²) values (std 0: every value is the mean, and nothing is drawn).
     *
     * @param dtype the element type
     * @param mean the mean
     * @param std the standard deviation (≥ 0)
     * @param shape the dimensions
     * @return a CPU tensor owned by the current scope
     */
    public Tensor normal(DType dtype, double mean, double std, int... shape) {
        long stream = nextStream();
        if (std == 0) {
            return mean == 0 ? Tensor.zeros(dtype, shape) : Tensor.full(dtype, mean, shape);
        }
        // Both branches of each Box-Muller pair at once: same values as normal(stream, i), half the work.
        return fill(dtype, shape, () -> new IndexFn() {
            long cachedPair = -1;
            double sin;

            @Override
            public double at(long i) {
                long pair = i >>> 1;
                if ((i & 1) == 1 && pair == cachedPair) {
                    return mean + std * sin;
                }
                double r = boxMullerRadius(stream, pair);
                double a = boxMullerAngle(stream, pair);
                cachedPair = pair;
                sin = r * Math.sin(a);
                return (i & 1) == 0 ? mean + std * r * Math.cos(a) : mean + std * sin;
            }
        });
    }

    /**
     * An f32 tensor of N(mean, std²) values.
     *
     * @param mean the mean
     * @param std the standard deviation (≥ 0)
     * @param shape the dimensions
     * @return a CPU tensor owned by the current scope
     */
    public Tensor normal(double mean, double std, int... shape) {
        return normal(DType.F32, mean, std, shape);
    }

    /**
     * Tensor of U[lo, hi) values.
     *
     * @param dtype the element type
     * @param lo the inclusive lower bound
     * @param hi the exclusive upper bound
     * @param shape the dimensions
     * @return a CPU tensor owned by the current scope
     */
    public Tensor uniform(DType dtype, double lo, double hi, int... shape) {
        long stream = nextStream();
        return fill(dtype, shape, () -> i -> lo + (hi - lo) * uniform(stream, i));
    }

    /**
     * An f32 tensor of U[lo, hi) values.
     *
     * @param lo the inclusive lower bound
     * @param hi the exclusive upper bound
     * @param shape the dimensions
     * @return a CPU tensor owned by the current scope
     */
    public Tensor uniform(double lo, double hi, int... shape) {
        return uniform(DType.F32, lo, hi, shape);
    }

    /**
     * Normal values truncated to [a, b] (absolute bounds) by per-element resampling; deterministic per element.
     *
     * @param dtype the element type
     * @param mean the mean of the normal before truncation
     * @param std its standard deviation
     * @param a the lower bound (absolute, not in standard deviations)
     * @param b the upper bound (absolute)
     * @param shape the dimensions
     * @return a CPU tensor owned by the current scope
     * @throws IllegalArgumentException when {@code a >= b}
     */
    public Tensor truncatedNormal(DType dtype, double mean, double std, double a, double b, int... shape) {
        if (!(a < b)) {
            throw new IllegalArgumentException("truncatedNormal: need a < b, got a=" + a + ", b=" + b);
        }
        long stream = nextStream();
        return fill(dtype, shape, () -> i -> {
            for (long attempt = 0; attempt < 1000; attempt++) {
                double x = mean + std * normal(stream, i * 1000 + attempt);
                if (x >= a && x <= b) {
                    return x;
                }
            }
            return Math.min(b, Math.max(a, mean));
        });
    }

    @FunctionalInterface
    private interface IndexFn {
        double at(long i);
    }

    /** Fills a fresh tensor; each parallel chunk gets its own function from the factory (they may cache). */
    private static Tensor fill(DType dtype, int[] shape, java.util.function.Supplier<IndexFn> factory) {
        Tensor t = Tensor.empty(dtype, shape);
        long n = t.numel();
        java.lang.foreign.MemorySegment seg = t.hostSegment("rng");
        int chunks = (int) Math.min(Integer.MAX_VALUE, (n + 4095) / 4096);
        // Chunks in parallel on the common pool: each value depends on its index only, so the threads change nothing.
        java.util.stream.IntStream.range(0, chunks).parallel().forEach(c -> {
            IndexFn fn = factory.get();
            long end = Math.min(n, (long) (c + 1) * 4096);
            for (long i = (long) c * 4096; i < end; i++) {
                double v = fn.at(i);
                if (dtype == DType.F32) {
                    seg.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, (float) v);
                } else {
                    Elements.set(seg, dtype, i, v);
                }
            }
        });
        return t;
    }

    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
