package fulgur.cuda.backend;

import fulgur.cuda.CudaContext;
import fulgur.cuda.CudaStream;
import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.DevicePointer;
import fulgur.cuda.driver.CudaDriver;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Error flags of kernels that check device values (an index out of range), collected instead of read one at a time:
 * each flag is a slot of a device page that a kernel lowers to the first failing position, and {@link #verify()} reads
 * every page with one copy per page. Used while checks are deferred (no host sync inside a step) and for a captured
 * graph, whose flags are re-armed by each replay and verified after it.
 */
final class DeviceChecks implements AutoCloseable {
    static final long CLEAR = 0x7F7F7F7F7F7F7F7FL;
    private static final int SLOTS = 512;

    /** Makes the exception for a failed check; {@code value} is the offending value, or null when it is no longer known. */
    @FunctionalInterface
    interface Failure {
        RuntimeException at(String value, long position);
    }

    private final CudaContext ctx;
    private final CudaStream stream;
    private final List<DeviceBuffer> pages = new ArrayList<>();
    private final List<Failure> failures = new ArrayList<>();

    DeviceChecks(CudaContext ctx, CudaStream stream) {
        this.ctx = ctx;
        this.stream = stream;
    }

    /** A fresh (cleared, stream-ordered) slot for the next check. */
    DevicePointer slot() {
        int i = failures.size();
        if (i / SLOTS == pages.size()) pages.add(ctx.allocate(8L * SLOTS, stream));
        long address = pages.get(i / SLOTS).address() + 8L * (i % SLOTS);
        CudaDriver.get().memsetD8Async(address, (byte) 0x7F, 8, stream.handle());
        failures.add(null);
        return DevicePointer.of(address);
    }

    /** What the check in the slot handed out last reports when it fails. */
    void onFailure(Failure f) {
        failures.set(failures.size() - 1, f);
    }

    boolean isEmpty() {
        return failures.isEmpty();
    }

    /** Reads every slot (the caller has synchronized the stream) and throws the first failure. */
    void verify() {
        try (Arena a = Arena.ofConfined()) {
            for (int p = 0; p < pages.size(); p++) {
                int used = Math.min(SLOTS, failures.size() - p * SLOTS);
                MemorySegment h = a.allocate(8L * used, 8);
                CudaDriver.get().memcpyDtoH(h, pages.get(p).address(), 8L * used);
                for (int s = 0; s < used; s++) {
                    long v = h.getAtIndex(ValueLayout.JAVA_LONG, s);
                    Failure f = failures.get(p * SLOTS + s);
                    if (v != CLEAR && f != null) throw f.at(null, v);
                }
            }
        }
    }

    /** Forgets the checks (eager deferral: the next step starts over with the same pages). */
    void reset() {
        failures.clear();
    }

    @Override
    public void close() {
        pages.forEach(DeviceBuffer::close);
        pages.clear();
        failures.clear();
    }
}
