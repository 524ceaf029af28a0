package fulgur.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A caching allocator of off-heap host memory. Sizes are rounded up to classes (4 KiB steps below 1 MiB, then
 * eight classes per power of two) so that buffers of a training step are reused by the next step instead of being
 * mapped and unmapped each time. Each block has its own shared arena, closed when the block leaves the cache. Blocks
 * of 2 MiB and more lie on transparent huge pages where the machine offers them ({@link HugePages}): weights read
 * from memory at every decoding step then stream faster.
 */
public final class HostAllocator {
    /** A block of memory and the arena that owns it. */
    record Block(Arena arena, MemorySegment segment, long sizeClass) {}

    private static final long ALIGN = 64;
    private static final ConcurrentHashMap<Long, ArrayDeque<Block>> FREE = new ConcurrentHashMap<>();
    private static final AtomicLong CACHED = new AtomicLong();
    private static final AtomicLong IN_USE = new AtomicLong();
    private static final AtomicLong PEAK = new AtomicLong();
    private static final AtomicLong ALLOCATED = new AtomicLong();
    private static final long CACHE_LIMIT = parseLimit();

    private HostAllocator() {}

    /**
     * Allocates storage for {@code numel} elements of {@code dtype}; contents are undefined.
     *
     * @param dtype the element type
     * @param numel the number of elements (≥ 0)
     * @return the storage, owned by no scope yet
     * @throws IllegalArgumentException when the size in bytes overflows
     * @throws IllegalStateException when the host has no memory left for it
     */
    public static HostStorage allocate(DType dtype, long numel) {
        if (numel < 0 || numel > Long.MAX_VALUE / 8) {
            throw new IllegalArgumentException("allocate: cannot allocate " + numel + " elements of " + dtype);
        }
        long bytes = Math.max(1, numel) * dtype.byteSize();
        long cls = sizeClass(bytes);
        Block block = null;
        ArrayDeque<Block> q = FREE.get(cls);
        if (q != null) {
            synchronized (q) {
                block = q.pollFirst();
            }
            if (block != null) {
                CACHED.addAndGet(-cls);
            }
        }
        if (block == null) {
            Arena arena = Arena.ofShared();
            try {
                block = new Block(arena, memory(arena, cls, bytes), cls);
            } catch (OutOfMemoryError e) {
                trim();
                arena.close();
                Arena retry = Arena.ofShared();
                try {
                    block = new Block(retry, memory(retry, cls, bytes), cls);
                } catch (OutOfMemoryError again) {
                    retry.close();
                    throw new IllegalStateException(
                            "allocate: out of host memory for " + numel + " elements of " + dtype + " (" + cls
                                    + " bytes; " + IN_USE.get() + " bytes in use)",
                            again);
                }
            }
        }
        ALLOCATED.addAndGet(cls);
        long used = IN_USE.addAndGet(cls);
        PEAK.accumulateAndGet(used, Math::max);
        return new HostStorage(block, numel * dtype.byteSize());
    }

    /**
     * Memory of a new block of class {@code cls} for {@code bytes}: the whole 2 MiB pages of those bytes on huge pages
     * where the machine offers them ({@link HugePages}), the rest of the class on small ones.
     */
    private static MemorySegment memory(Arena arena, long cls, long bytes) {
        MemorySegment huge = HugePages.allocate(cls, bytes, arena);
        return huge != null ? huge : arena.allocate(cls, ALIGN);
    }

    static void free(Block block) {
        IN_USE.addAndGet(-block.sizeClass());
        if (CACHED.get() + block.sizeClass() > CACHE_LIMIT) {
            block.arena().close();
            return;
        }
        ArrayDeque<Block> q = FREE.computeIfAbsent(block.sizeClass(), k -> new ArrayDeque<>());
        synchronized (q) {
            q.addFirst(block);
        }
        CACHED.addAndGet(block.sizeClass());
    }

    /** Returns all cached blocks to the operating system. */
    public static void trim() {
        for (ArrayDeque<Block> q : FREE.values()) {
            synchronized (q) {
                Block b;
                while ((b = q.pollFirst()) != null) {
                    CACHED.addAndGet(-b.sizeClass());
                    b.arena().close();
                }
            }
        }
    }

    /** {@return bytes (rounded to size classes) held by live storages now} */
    public static long bytesInUse() {
        return IN_USE.get();
    }

    /**
     * Bytes (rounded to size classes) handed out since start, freed or not: a count of allocation traffic.
     *
     * @return the bytes, counted since the JVM started
     */
    public static long bytesAllocated() {
        return ALLOCATED.get();
    }

    /** {@return the most bytes in use at once since start or the last {@link #resetPeak()}} */
    public static long peakBytesInUse() {
        return PEAK.get();
    }

    /** Starts a new peak measurement at the bytes in use now. */
    public static void resetPeak() {
        PEAK.set(IN_USE.get());
    }

    /** {@return bytes of freed blocks kept for reuse} */
    public static long bytesCached() {
        return CACHED.get();
    }

    static long sizeClass(long bytes) {
        if (bytes <= (1L << 20)) {
            return (bytes + 4095) & ~4095L;
        }
        int log = 63 - Long.numberOfLeadingZeros(bytes - 1);
        long step = 1L << (log - 3);
        return (bytes + step - 1) / step * step;
    }

    private static long parseLimit() {
        String v = System.getenv("FULGUR_HOST_CACHE_MB");
        if (v != null && !v.isBlank()) {
            return Long.parseLong(v.trim()) << 20;
        }
        return Math.max(256L << 20, Runtime.getRuntime().maxMemory());
    }
}
