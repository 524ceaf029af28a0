package fulgur.testing;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A small property runner: a body runs on many seeded random cases, and a failure reports the trial and the seed that
 * reproduces it ({@code Props.replay(seed, body)}). Deterministic, so a failing case fails on every run.
 */
public final class Props {
    private Props() {}

    @FunctionalInterface
    public interface Body {
        void run(SplittableRandom r);
    }

    public static void forAll(String property, int trials, long seed, Body body) {
        for (int t = 0; t < trials; t++) {
            long s = seed * 1_000_003L + t;
            try {
                body.run(new SplittableRandom(s));
            } catch (AssertionError | RuntimeException e) {
                throw new AssertionError(
                        "property '" + property + "' failed at trial " + t + " (replay seed " + s + "): "
                                + e.getMessage(),
                        e);
            }
        }
    }

    public static void replay(long seed, Body body) {
        body.run(new SplittableRandom(seed));
    }

    /** A shape of rank in [minRank, maxRank] with dimensions in [1, maxDim], size-1 dimensions common. */
    public static int[] shape(SplittableRandom r, int minRank, int maxRank, int maxDim) {
        int rank = minRank + r.nextInt(maxRank - minRank + 1);
        int[] s = new int[rank];
        for (int i = 0; i < rank; i++) {
            s[i] = r.nextInt(4) == 0 ? 1 : 1 + r.nextInt(maxDim);
        }
        return s;
    }

    public static int[] permutation(SplittableRandom r, int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    public static int[] inverse(int[] perm) {
        int[] inv = new int[perm.length];
        for (int i = 0; i < perm.length; i++) {
            inv[perm[i]] = i;
        }
        return inv;
    }

    /** A random shape holding exactly n elements: n's prime factors grouped at random, with size-1 dims sprinkled in. */
    public static int[] refactor(SplittableRandom r, long n) {
        List<Integer> primes = new ArrayList<>();
        long m = n;
        for (int p = 2; (long) p * p <= m; p++) {
            while (m % p == 0) {
                primes.add(p);
                m /= p;
            }
        }
        if (m > 1) {
            primes.add((int) m);
        }
        for (int i = primes.size() - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            Integer t = primes.get(i);
            primes.set(i, primes.get(j));
            primes.set(j, t);
        }
        List<Integer> dims = new ArrayList<>();
        int cur = 1;
        for (int p : primes) {
            cur *= p;
            if (r.nextInt(2) == 0) {
                dims.add(cur);
                cur = 1;
            }
            if (r.nextInt(5) == 0) {
                dims.add(1);
            }
        }
        if (cur > 1 || dims.isEmpty()) {
            dims.add(cur);
        }
        if (n == 1 && r.nextInt(3) == 0) {
            dims.clear(); // a 0-d shape
        }
        int[] s = new int[dims.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = dims.get(i);
        }
        return s;
    }
}
