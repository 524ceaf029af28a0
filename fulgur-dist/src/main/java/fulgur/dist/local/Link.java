package fulgur.dist.local;

import fulgur.dist.DistException;
import java.time.Duration;

/**
 * A simulated network link for the local backend, for benchmarks: an operation's data becomes readable
 * {@code latency + bytes / bandwidth} after it could have been, where {@code bytes} is what one rank puts on the wire
 * in the usual algorithm (ring all-reduce: 2(n−1)/n of the buffer; ring all-gather and reduce-scatter: (n−1)/n of the
 * gathered buffer; broadcast: the buffer; all-to-all: what the busiest rank sends to the others; send: the message).
 * The collectives of one group queue behind each other, as on the stream of an NCCL communicator, and so do the
 * messages from one rank to another. A group of one rank moves nothing and costs nothing.
 *
 * @param latency        added to every operation that crosses the link
 * @param bytesPerSecond the link's bandwidth; 0 for unlimited
 */
public record Link(Duration latency, double bytesPerSecond) {
    /** No simulated cost: data is readable as soon as it has been copied. */
    public static final Link NONE = new Link(Duration.ZERO, 0);

    /**
     * Checks the link.
     *
     * @throws fulgur.dist.DistException for a negative latency or a negative or non-finite bandwidth
     */
    public Link {
        if (latency == null || latency.isNegative()) {
            throw new DistException("local link: latency must be >= 0, got " + latency);
        }
        if (!(bytesPerSecond >= 0) || Double.isInfinite(bytesPerSecond)) {
            throw new DistException(
                    "local link: bandwidth must be finite and >= 0 bytes/s (0 = unlimited), got " + bytesPerSecond);
        }
    }

    /**
     * A link of {@code gigabitsPerSecond} (0 = unlimited) and {@code latencyMicros}.
     *
     * @param gigabitsPerSecond the bandwidth in Gbit/s, 0 for unlimited
     * @param latencyMicros the latency in µs
     * @return the link
     * @throws fulgur.dist.DistException for a negative value
     */
    public static Link of(double gigabitsPerSecond, double latencyMicros) {
        if (!(gigabitsPerSecond >= 0) || !(latencyMicros >= 0)) {
            throw new DistException("local link: bandwidth and latency must be >= 0, got " + gigabitsPerSecond
                    + " Gbit/s and " + latencyMicros + " µs");
        }
        return new Link(Duration.ofNanos(Math.round(latencyMicros * 1e3)), gigabitsPerSecond * 1e9 / 8);
    }

    /** {@return whether the link costs nothing} */
    public boolean isFree() {
        return latency.isZero() && bytesPerSecond == 0;
    }

    /**
     * How long moving {@code bytes} takes on this link.
     *
     * @param bytes the bytes on the wire
     * @return the nanoseconds
     */
    public long transferNanos(long bytes) {
        double wire = bytesPerSecond > 0 ? bytes * 1e9 / bytesPerSecond : 0;
        return latency.toNanos() + Math.round(wire);
    }

    /** Bytes one rank of an {@code n}-rank ring all-reduce of {@code bytes} sends. */
    static long allReduceBytes(long bytes, int n) {
        return 2 * (n - 1) * bytes / n;
    }

    /** Bytes one rank of an {@code n}-rank ring all-gather (or reduce-scatter) of a {@code gathered}-byte buffer sends. */
    static long ringBytes(long gathered, int n) {
        return (n - 1) * gathered / n;
    }

    /**
     * The time (System.nanoTime) at which an operation of {@code bytes} that could complete now is readable, queued
     * after the one before it on the same channel ({@code freeAt[0]}, updated).
     */
    long occupy(long[] freeAt, long bytes) {
        long now = System.nanoTime();
        if (isFree()) {
            return now;
        }
        synchronized (freeAt) {
            long start = freeAt[0] - now > 0 ? freeAt[0] : now;
            long end = start + transferNanos(bytes);
            freeAt[0] = end;
            return end;
        }
    }

    @Override
    public String toString() {
        return isFree()
                ? "no simulated link"
                : String.format(
                        "%s Gbit/s, %.0f µs latency",
                        bytesPerSecond == 0 ? "unlimited" : String.format("%.3g", bytesPerSecond * 8 / 1e9),
                        latency.toNanos() / 1e3);
    }
}
