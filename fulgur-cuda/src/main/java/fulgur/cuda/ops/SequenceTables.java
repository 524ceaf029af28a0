package fulgur.cuda.ops;

import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.DevicePointer;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@link Sequences} tables uploaded to the device and kept per layout (the last 32), so that steady-state calls of a
 * fixed shape upload nothing (and stay capturable in a CUDA graph after their first call).
 */
public final class SequenceTables {
    private final DeviceTensors dt;
    private final Map<String, DeviceBuffer> cache = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, DeviceBuffer> e) {
            if (size() > 32) {
                e.getValue().close();
                return true;
            }
            return false;
        }
    };

    public SequenceTables(DeviceTensors dt) {
        this.dt = dt;
    }

    /** {seqTab, segTab} on the device. */
    public DevicePointer[] of(Sequences sq) {
        if (sq.segments() > 65535) {
            throw new IllegalArgumentException(
                    sq.segments() + " segments exceed the grid limit of 65535; use a longer segment length");
        }
        int[] all = new int[sq.seqTab().length + sq.segTab().length];
        System.arraycopy(sq.seqTab(), 0, all, 0, sq.seqTab().length);
        System.arraycopy(sq.segTab(), 0, all, sq.seqTab().length, sq.segTab().length);
        DevicePointer buf = upload(all);
        return new DevicePointer[] {buf, buf.plus(4L * sq.seqTab().length)};
    }

    /** Any int table on the device, uploaded once per content. */
    public synchronized DevicePointer upload(int[] table) {
        String key = Arrays.toString(table);
        DeviceBuffer buf = cache.get(key);
        if (buf == null) {
            buf = dt.scratch(4L * Math.max(1, table.length));
            try (Arena a = Arena.ofConfined()) {
                if (table.length > 0) buf.copyFromHostAsync(a.allocateFrom(ValueLayout.JAVA_INT, table), dt.stream());
            }
            cache.put(key, buf);
        }
        return buf;
    }

    /** Threads per CTA of a per-channel scan kernel: 32 channels times enough ranges of each sequence to fill the GPU. */
    public static int scanThreads(long ctas, int sms) {
        int nseg = (int) Math.max(1, Math.min(32, (sms * 8L + ctas - 1) / Math.max(1, ctas)));
        return 32 * nseg;
    }
}
