package fulgur.cuda;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * A caching device allocator. Requests are rounded to size classes (multiples of 512 B up to 1 MiB,
 * above that at most 1/8 of the power of two below, never less than 2 MiB); a freed buffer goes back to
 * the pool of the stream it was last used on and is handed out again on that stream at once (stream
 * order makes that safe), or on another stream once its own stream is idle. When the driver runs out of
 * memory the cache is emptied (after a synchronize) and the request retried. Memory comes back to the
 * driver only through {@link #emptyCache()} or {@link #close()}. While a graph is captured, allocations and frees go to
 * that graph's private {@link GraphPool}.
 */
public final class CachingAllocator implements AutoCloseable {

    /** What the allocator needs from the device (a fake one in tests). */
    public interface Backend {
        /**
         * Allocates device memory (cuMemAlloc).
         *
         * @param bytes the size
         * @return the device address
         */
        long malloc(long bytes);

        /**
         * Frees device memory (cuMemFree).
         *
         * @param address an address {@link #malloc} returned
         */
        void free(long address);

        /**
         * {@return whether the stream has finished all its work (a block it used may then go to another stream)}
         *
         * @param streamId the stream's id
         */
        boolean streamIdle(long streamId);

        /** Waits for all work on the device. */
        void synchronize();

        /**
         * {@return whether {@code e} is the driver's out-of-memory error (the allocator then empties its cache and
         * retries)}
         *
         * @param e an error of {@link #malloc}
         */
        boolean isOutOfMemory(RuntimeException e);

        /**
         * cuMemAlloc while this thread captures a graph (the driver refuses it in the strict capture modes).
         *
         * @param bytes the size
         * @return the device address
         */
        default long mallocWhileCapturing(long bytes) {
            return malloc(bytes);
        }
    }

    /**
     * The private memory of one captured graph. While the graph is captured, its allocations come from here (blocks the
     * capture itself freed, else blocks taken from the cache or the driver) and every block freed goes here, even one
     * allocated before the capture: a replay repeats the capture's uses of these addresses, so nothing outside the graph
     * may get them while it lives. {@link #releasePool} returns them to the cache.
     */
    public static final class GraphPool {
        private final Map<Long, ArrayDeque<Long>> free = new HashMap<>();
        private long bytes;
        private boolean released;

        /** An empty pool; {@link CachingAllocator#beginCapture()} makes the pools of captured graphs. */
        public GraphPool() {}

        /**
         * Bytes of device memory the graph holds (free or in use); 0 once released.
         *
         * @return the bytes
         */
        public synchronized long bytes() {
            return bytes;
        }
    }

    /**
     * Counters in bytes (and calls).
     *
     * @param inUseBytes bytes of live buffers
     * @param peakInUseBytes the most bytes in use at once
     * @param reservedBytes bytes taken from the driver and not given back (in use, cached or in graph pools)
     * @param peakReservedBytes the most bytes reserved at once
     * @param cachedBytes bytes of free blocks kept for reuse
     * @param graphPoolBytes bytes held by captured graphs' pools
     * @param driverAllocs calls to the driver's allocation
     * @param driverFrees calls to the driver's free
     * @param cacheHits requests served from the cache
     * @param requests all requests
     */
    public record Report(
            long inUseBytes,
            long peakInUseBytes,
            long reservedBytes,
            long peakReservedBytes,
            long cachedBytes,
            long graphPoolBytes,
            long driverAllocs,
            long driverFrees,
            long cacheHits,
            long requests) {
        @Override
        public String toString() {
            return String.format(
                    "in use %.1f MiB (peak %.1f), reserved %.1f MiB (peak %.1f), cached %.1f MiB, graph pools %.1f MiB; "
                            + "%d requests, %d cache hits, %d cuMemAlloc, %d cuMemFree",
                    mib(inUseBytes),
                    mib(peakInUseBytes),
                    mib(reservedBytes),
                    mib(peakReservedBytes),
                    mib(cachedBytes),
                    mib(graphPoolBytes),
                    requests,
                    cacheHits,
                    driverAllocs,
                    driverFrees);
        }

        private static double mib(long b) {
            return b / 1048576.0;
        }
    }

    /** Pool key of blocks whose stream was destroyed (after a synchronize): reusable on any stream. */
    static final long IDLE = -1;

    private static final java.util.Set<CachingAllocator> LIVE =
            java.util.Collections.synchronizedSet(java.util.Collections.newSetFromMap(new java.util.WeakHashMap<>()));

    private final Backend backend;
    private final Map<Long, Map<Long, ArrayDeque<Long>>> pools = new HashMap<>();
    private long inUse,
            peakInUse,
            reserved,
            peakReserved,
            cached,
            graphBytes,
            driverAllocs,
            driverFrees,
            hits,
            requests;
    private GraphPool capturing;
    private boolean closed;

    /**
     * An empty allocator over {@code backend}.
     *
     * @param backend the device's allocation calls
     */
    public CachingAllocator(Backend backend) {
        this.backend = backend;
        LIVE.add(this);
    }

    /** Called when a stream is destroyed (its work finished): its cached blocks become reusable anywhere. */
    static void streamDestroyed(long streamId) {
        CachingAllocator[] all;
        synchronized (LIVE) {
            all = LIVE.toArray(new CachingAllocator[0]);
        }
        for (CachingAllocator a : all) a.moveToIdle(streamId);
    }

    private synchronized void moveToIdle(long streamId) {
        Map<Long, ArrayDeque<Long>> m = pools.remove(streamId);
        if (m == null) return;
        Map<Long, ArrayDeque<Long>> idle = pools.computeIfAbsent(IDLE, k -> new HashMap<>());
        for (Map.Entry<Long, ArrayDeque<Long>> e : m.entrySet()) {
            idle.computeIfAbsent(e.getKey(), k -> new ArrayDeque<>()).addAll(e.getValue());
        }
    }

    /**
     * The size class a request of {@code bytes} is served from.
     *
     * @param bytes the request, ≥ 0
     * @return the size class in bytes
     * @throws IllegalArgumentException for a negative size
     */
    public static long sizeClass(long bytes) {
        if (bytes < 0) throw new IllegalArgumentException("negative size " + bytes);
        if (bytes <= 512) return 512;
        if (bytes <= (1L << 20)) return (bytes + 511) & ~511L;
        long p = Long.highestOneBit(bytes);
        long step = Math.max(p >> 3, 2L << 20);
        return ((bytes + step - 1) / step) * step;
    }

    /**
     * Device memory of {@code bytes}, ordered on {@code stream}: a cached block that stream (or an idle one) freed, else
     * fresh memory from the driver.
     *
     * @param bytes the size
     * @param stream the stream that will use it
     * @return the buffer, to close
     * @throws IllegalStateException when the allocator is closed
     */
    public DeviceBuffer allocate(long bytes, CudaStream stream) {
        return allocate(bytes, stream.id());
    }

    /**
     * Device memory of {@code bytes}, ordered on the stream with id {@code streamId}.
     *
     * @param bytes the size
     * @param streamId the id of the stream that will use it
     * @return the buffer, to close
     * @throws IllegalStateException when the allocator is closed
     */
    public synchronized DeviceBuffer allocate(long bytes, long streamId) {
        if (closed) throw new IllegalStateException("allocator is closed");
        requests++;
        long sc = sizeClass(bytes);
        if (capturing != null) return allocateForCapture(bytes, sc, streamId);
        Long addr = take(streamId, sc, true);
        if (addr != null) {
            hits++;
        } else {
            addr = mallocWithRetry(sc, bytes);
        }
        inUse += sc;
        peakInUse = Math.max(peakInUse, inUse);
        return new DeviceBuffer(this, addr, bytes, sc, streamId);
    }

    private DeviceBuffer allocateForCapture(long bytes, long sc, long streamId) {
        GraphPool p = capturing;
        ArrayDeque<Long> q = p.free.get(sc);
        Long addr = q == null ? null : q.poll();
        if (addr != null) {
            hits++;
        } else {
            addr = take(streamId, sc, false); // no stream queries while capturing; the cache's blocks join the pool
            if (addr != null) {
                hits++;
            } else {
                try {
                    addr = backend.mallocWhileCapturing(sc);
                } catch (RuntimeException e) {
                    if (!backend.isOutOfMemory(e)) throw e;
                    throw new OutOfMemoryError("device out of memory while capturing a graph: " + bytes
                            + " bytes requested (class " + sc + "); " + reportUnlocked());
                }
                driverAllocs++;
                reserved += sc;
                peakReserved = Math.max(peakReserved, reserved);
            }
            synchronized (p) {
                p.bytes += sc;
            }
            graphBytes += sc;
        }
        inUse += sc;
        peakInUse = Math.max(peakInUse, inUse);
        DeviceBuffer b = new DeviceBuffer(this, addr, bytes, sc, streamId);
        b.pool = p;
        return b;
    }

    /**
     * Starts routing allocations and frees to a new graph pool (one capture at a time).
     *
     * @return the pool
     * @throws IllegalStateException when a graph is already being captured
     */
    public synchronized GraphPool beginCapture() {
        if (capturing != null) throw new IllegalStateException("a graph is already being captured on this device");
        capturing = new GraphPool();
        return capturing;
    }

    /**
     * Ends the capture: the pool stays with its graph until {@link #releasePool}.
     *
     * @param p the pool {@link #beginCapture()} returned
     * @throws IllegalStateException when {@code p} is not capturing
     */
    public synchronized void endCapture(GraphPool p) {
        if (capturing != p) throw new IllegalStateException("endCapture of a pool that is not capturing");
        capturing = null;
    }

    /**
     * Hands a graph's pool back once the graph is destroyed and its work finished (the caller synchronizes): its free
     * blocks join the cache, and its blocks still in use join it when freed.
     *
     * @param p the graph's pool
     */
    public synchronized void releasePool(GraphPool p) {
        if (p.released) return;
        if (capturing == p) capturing = null;
        p.released = true;
        Map<Long, ArrayDeque<Long>> idle = pools.computeIfAbsent(IDLE, k -> new HashMap<>());
        synchronized (p) {
            for (Map.Entry<Long, ArrayDeque<Long>> e : p.free.entrySet()) {
                for (long a : e.getValue()) {
                    idle.computeIfAbsent(e.getKey(), k -> new ArrayDeque<>()).push(a);
                    cached += e.getKey();
                }
            }
            p.free.clear();
            graphBytes -= p.bytes; // blocks still in use are ordinary in-use memory from now on
            p.bytes = 0;
        }
    }

    private Long take(long streamId, long sc, boolean mayQuery) {
        Map<Long, ArrayDeque<Long>> own = pools.get(streamId);
        if (own != null) {
            ArrayDeque<Long> q = own.get(sc);
            if (q != null && !q.isEmpty()) {
                cached -= sc;
                return q.pop();
            }
        }
        for (Map.Entry<Long, Map<Long, ArrayDeque<Long>>> e : pools.entrySet()) {
            if (e.getKey() == streamId) continue;
            ArrayDeque<Long> q = e.getValue().get(sc);
            if (q != null && !q.isEmpty() && (e.getKey() == IDLE || (mayQuery && backend.streamIdle(e.getKey())))) {
                cached -= sc;
                return q.pop();
            }
        }
        return null;
    }

    private long mallocWithRetry(long sc, long requested) {
        try {
            return malloc(sc);
        } catch (RuntimeException e) {
            if (!backend.isOutOfMemory(e)) throw e;
            backend.synchronize();
            releaseCached();
            try {
                return malloc(sc);
            } catch (RuntimeException e2) {
                if (!backend.isOutOfMemory(e2)) throw e2;
                throw new OutOfMemoryError("device out of memory: " + requested + " bytes requested (class " + sc
                        + "); " + reportUnlocked());
            }
        }
    }

    private long malloc(long sc) {
        long a = backend.malloc(sc);
        driverAllocs++;
        reserved += sc;
        peakReserved = Math.max(peakReserved, reserved);
        return a;
    }

    synchronized void release(DeviceBuffer b) {
        inUse -= b.capacity();
        GraphPool p = b.pool;
        if (p == null && capturing != null && !closed) { // freed inside a capture: a replay may still use it up to here
            p = capturing;
            synchronized (p) {
                p.bytes += b.capacity();
            }
            graphBytes += b.capacity();
        }
        if (p != null && !p.released) {
            synchronized (p) {
                p.free.computeIfAbsent(b.capacity(), k -> new ArrayDeque<>()).push(b.rawAddress());
            }
            return;
        }
        if (closed) {
            backend.free(b.rawAddress());
            reserved -= b.capacity();
            driverFrees++;
            return;
        }
        pools.computeIfAbsent(b.streamId(), k -> new HashMap<>())
                .computeIfAbsent(b.capacity(), k -> new ArrayDeque<>())
                .push(b.rawAddress());
        cached += b.capacity();
    }

    /** Returns every cached (free) block to the driver, after waiting for all device work. */
    public synchronized void emptyCache() {
        backend.synchronize();
        releaseCached();
    }

    private void releaseCached() {
        for (Map<Long, ArrayDeque<Long>> m : pools.values()) {
            for (Map.Entry<Long, ArrayDeque<Long>> e : m.entrySet()) {
                for (long a : e.getValue()) {
                    backend.free(a);
                    reserved -= e.getKey();
                    cached -= e.getKey();
                    driverFrees++;
                }
                e.getValue().clear();
            }
        }
        pools.clear();
    }

    /** {@return the counters now} */
    public synchronized Report report() {
        return reportUnlocked();
    }

    private Report reportUnlocked() {
        return new Report(
                inUse,
                peakInUse,
                reserved,
                peakReserved,
                cached,
                graphBytes,
                driverAllocs,
                driverFrees,
                hits,
                requests);
    }

    /** Resets the peak counters to the current values. */
    public synchronized void resetPeaks() {
        peakInUse = inUse;
        peakReserved = reserved;
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        emptyCache();
        closed = true;
        LIVE.remove(this);
    }
}
