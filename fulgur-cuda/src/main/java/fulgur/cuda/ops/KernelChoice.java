package fulgur.cuda.ops;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which kernel an op family's calls take on CUDA, told once per family and choice on standard error when
 * {@code -Dfulgur.cuda.verbose=true} (the first training step shows every family's path: a kernel, or the composed form
 * and why).
 */
public final class KernelChoice {
    private static final boolean VERBOSE = Boolean.getBoolean("fulgur.cuda.verbose");
    private static final Set<String> TOLD = ConcurrentHashMap.newKeySet();

    private KernelChoice() {}

    /** Records that a call of {@code family} takes {@code choice}; returns {@code taken} (for use in supports methods). */
    public static boolean note(String family, boolean taken, String choice) {
        if (VERBOSE && TOLD.add(family + "\u0000" + taken + "\u0000" + choice)) {
            System.err.println("fulgur: " + family + " on cuda: " + (taken ? "kernel " : "composed form, ") + choice);
        }
        return taken;
    }
}
