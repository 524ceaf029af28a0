package fulgur.backend.cpu;

/**
 * Cache blocking of the packed GEMM for one micro-kernel and one cache hierarchy.
 *
 * @param kc depth of a packed block: an {@code mr×kc} micro-panel of A stays in half of L1 while it sweeps a slice
 *           of B, and a {@code kc×nb} slice of B stays in half of L2 while all row panels of a work item pass it
 * @param nb columns of that B slice, a multiple of the kernel's {@code nr}
 * @param mb rows of a block of C that takes every kc block before the next ({@code mb×nb} floats, a quarter of L2),
 *           a multiple of the kernel's {@code mr}
 * @param packedFloats most floats a packed copy of A or of B may take (rounded up to whole micro-panels); larger
 *           operands are packed in chunks
 */
record GemmBlocking(int kc, int nb, int mb, long packedFloats) {

    /** Blocking for {@code kernel} on caches {@code caches}; system properties fulgur.gemm.kc/.nb/.mb override it. */
    static GemmBlocking of(SgemmKernel kernel, CpuCaches caches) {
        long fb = Float.BYTES;
        long byL1 = caches.l1() / (2 * kernel.mr * fb);
        long byL2 = caches.l2() / (2 * fb * 4 * kernel.nr); // leave room for at least 4 micro-panels of B
        // deeper blocks halve the passes over C: the 8×48 kernel (AVX-512) measured 2–5 % faster at 512 than at 320
        // on large products; the 6×16 one (AVX2) keeps the 384 it was tuned with
        int most = kernel.nr >= 48 ? 512 : 384;
        int kc = (int) Math.clamp(Math.min(byL1, byL2) / 32 * 32, 128, most);
        kc = Math.max(1, Integer.getInteger("fulgur.gemm.kc", kc));
        int nb = (int) Math.max(kernel.nr, caches.l2() / (2 * fb * kc) / kernel.nr * kernel.nr);
        nb = Math.max(kernel.nr, Integer.getInteger("fulgur.gemm.nb", nb) / kernel.nr * kernel.nr);
        int mb = (int) Math.max(kernel.mr, caches.l2() / (4 * fb * nb) / kernel.mr * kernel.mr);
        mb = Math.max(kernel.mr, Integer.getInteger("fulgur.gemm.mb", mb) / kernel.mr * kernel.mr);
        // a packed copy may take up to half of L3 but never less than 4M floats (16 MiB)
        long packed = Math.max(4L << 20, caches.l3() / 2 / fb);
        return new GemmBlocking(kc, nb, mb, packed);
    }
}
