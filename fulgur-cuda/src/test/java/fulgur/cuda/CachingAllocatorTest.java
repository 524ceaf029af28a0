package fulgur.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class CachingAllocatorTest {

    /** A fake device: a bump pointer with a capacity; streams idle when listed. */
    static class FakeBackend implements CachingAllocator.Backend {
        long next = 0x10000, capacity, used;
        int mallocs, frees, syncs;
        final Set<Long> idle = new HashSet<>();

        FakeBackend(long capacity) {
            this.capacity = capacity;
        }

        @Override
        public long malloc(long bytes) {
            if (used + bytes > capacity) throw new IllegalStateException("OOM");
            used += bytes;
            mallocs++;
            long a = next;
            next += bytes;
            return a;
        }

        @Override
        public void free(long address) {
            frees++;
        }

        @Override
        public boolean streamIdle(long streamId) {
            return idle.contains(streamId);
        }

        @Override
        public void synchronize() {
            syncs++;
        }

        @Override
        public boolean isOutOfMemory(RuntimeException e) {
            return "OOM".equals(e.getMessage());
        }

        int captureMallocs;

        @Override
        public long mallocWhileCapturing(long bytes) {
            captureMallocs++;
            return malloc(bytes);
        }
    }

    @Test
    void aCaptureGetsAPrivatePoolThatNothingElseUsesWhileItLives() {
        FakeBackend be = new FakeBackend(1L << 40);
        CachingAllocator a = new CachingAllocator(be);
        DeviceBuffer cachedBefore = a.allocate(1000, 7);
        long cachedAddr = cachedBefore.address();
        cachedBefore.close();
        DeviceBuffer readByGraph = a.allocate(4096, 7); // allocated before the capture, freed inside it
        long readAddr = readByGraph.address();

        CachingAllocator.GraphPool pool = a.beginCapture();
        DeviceBuffer t1 = a.allocate(1000, 7); // takes the cached block into the pool
        assertThat(t1.address()).isEqualTo(cachedAddr);
        t1.close();
        DeviceBuffer t2 = a.allocate(900, 7); // the capture reuses its own freed block
        assertThat(t2.address()).isEqualTo(cachedAddr);
        readByGraph.close(); // joins the pool, not the cache
        DeviceBuffer fresh = a.allocate(1 << 20, 7);
        assertThat(be.captureMallocs).isEqualTo(1);
        DeviceBuffer kept = a.allocate(4000, 7); // the graph's last user of readAddr came before: the pool may reuse it
        assertThat(kept.address()).isEqualTo(readAddr);
        t2.close();
        fresh.close();
        a.endCapture(pool);
        assertThat(pool.bytes()).isEqualTo(1024 + 4096 + (1 << 20));
        assertThat(a.report().graphPoolBytes()).isEqualTo(pool.bytes());

        // outside the capture: the pool's free blocks are not handed out
        DeviceBuffer other = a.allocate(1000, 7);
        DeviceBuffer other2 = a.allocate(1 << 20, 7);
        assertThat(other.address()).isNotEqualTo(cachedAddr);
        assertThat(other2.address()).isNotEqualTo(fresh.rawAddress());
        kept.close(); // a pool block freed between replays stays in the pool
        assertThat(a.allocate(4000, 7).address()).isNotEqualTo(readAddr);

        a.releasePool(pool);
        assertThat(a.report().graphPoolBytes()).isZero();
        assertThat(a.allocate(1000, 7).address()).isEqualTo(cachedAddr); // back in the cache, reusable on any stream
        assertThat(a.allocate(4000, 9).address()).isEqualTo(readAddr);
    }

    @Test
    void aPoolBlockStillInUseWhenThePoolIsReleasedReturnsToTheCacheWhenFreed() {
        FakeBackend be = new FakeBackend(1L << 40);
        CachingAllocator a = new CachingAllocator(be);
        CachingAllocator.GraphPool pool = a.beginCapture();
        DeviceBuffer grad = a.allocate(2048, 3);
        a.endCapture(pool);
        assertThat(a.report().graphPoolBytes()).isEqualTo(2048);
        a.releasePool(pool);
        assertThat(pool.bytes()).isZero();
        assertThat(a.report().graphPoolBytes()).isZero();
        assertThat(a.report().inUseBytes()).isEqualTo(2048);
        long addr = grad.address();
        grad.close();
        assertThat(a.report().cachedBytes()).isEqualTo(2048);
        assertThat(a.allocate(2000, 3).address()).isEqualTo(addr);
        assertThatThrownBy(() -> {
                    a.beginCapture();
                    a.beginCapture();
                })
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("already");
    }

    @Test
    void sizeClasses() {
        assertThat(CachingAllocator.sizeClass(1)).isEqualTo(512);
        assertThat(CachingAllocator.sizeClass(513)).isEqualTo(1024);
        assertThat(CachingAllocator.sizeClass(1 << 20)).isEqualTo(1 << 20);
        assertThat(CachingAllocator.sizeClass((1 << 20) + 1)).isEqualTo(2 << 20);
        assertThat(CachingAllocator.sizeClass(3L << 20)).isEqualTo(4L << 20);
        assertThat(CachingAllocator.sizeClass(1L << 30)).isEqualTo(1L << 30);
        long c = CachingAllocator.sizeClass((1L << 30) + 1);
        assertThat(c).isGreaterThan(1L << 30).isLessThanOrEqualTo((1L << 30) + (1L << 27));
    }

    @Test
    void reusesOnTheSameStreamAndReports() {
        FakeBackend be = new FakeBackend(1L << 40);
        CachingAllocator a = new CachingAllocator(be);
        DeviceBuffer b1 = a.allocate(1000, 7);
        long addr = b1.address();
        b1.close();
        DeviceBuffer b2 = a.allocate(900, 7); // same class (1024)
        assertThat(b2.address()).isEqualTo(addr);
        assertThat(be.mallocs).isEqualTo(1);
        CachingAllocator.Report r = a.report();
        assertThat(r.inUseBytes()).isEqualTo(1024);
        assertThat(r.reservedBytes()).isEqualTo(1024);
        assertThat(r.cacheHits()).isEqualTo(1);
        assertThat(r.requests()).isEqualTo(2);
        b2.close();
        assertThat(a.report().cachedBytes()).isEqualTo(1024);
        assertThat(a.report().peakInUseBytes()).isEqualTo(1024);
        assertThatThrownBy(b2::address).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void crossStreamReuseWaitsForTheOtherStreamToBeIdle() {
        FakeBackend be = new FakeBackend(1L << 40);
        CachingAllocator a = new CachingAllocator(be);
        DeviceBuffer b1 = a.allocate(4096, 1);
        long addr = b1.address();
        b1.close();
        DeviceBuffer b2 = a.allocate(4096, 2); // stream 1 busy: fresh block
        assertThat(b2.address()).isNotEqualTo(addr);
        be.idle.add(1L);
        DeviceBuffer b3 = a.allocate(4096, 2); // stream 1 idle: its block may move
        assertThat(b3.address()).isEqualTo(addr);
        assertThat(be.mallocs).isEqualTo(2);
    }

    @Test
    void outOfMemoryEmptiesTheCacheAndRetries() {
        FakeBackend be = new FakeBackend(4L << 20) {
            @Override
            public void free(long address) {
                super.free(address);
                used -= 2L << 20;
            }
        };
        CachingAllocator a = new CachingAllocator(be);
        a.allocate(2L << 20, 1).close(); // cached 2 MiB
        DeviceBuffer big = a.allocate(3L << 20, 1); // class 4 MiB: fits only once the cache is emptied
        assertThat(big.capacity()).isEqualTo(4L << 20);
        assertThat(be.syncs).isEqualTo(1);
        assertThat(be.frees).isEqualTo(1);
        assertThat(a.report().cachedBytes()).isZero();
    }

    @Test
    void outOfMemoryAfterEmptyingIsAClearError() {
        FakeBackend be = new FakeBackend(3L << 20) {
            @Override
            public void free(long address) {
                super.free(address);
                used -= 2L << 20;
            }
        };
        CachingAllocator a = new CachingAllocator(be);
        a.allocate(2L << 20, 1).close();
        DeviceBuffer b = a.allocate(1L << 20, 1); // 1 MiB class fits next to the cached 2 MiB
        assertThat(be.frees).isZero();
        b.close();
        DeviceBuffer c = a.allocate(2L << 20, 1); // reuses the cached block
        assertThat(be.mallocs).isEqualTo(2);
        c.close();
        assertThatThrownBy(() -> a.allocate(8L << 20, 1))
                .isInstanceOf(OutOfMemoryError.class)
                .hasMessageContaining("8388608 bytes requested");
        assertThat(be.syncs).isEqualTo(1);
        assertThat(be.frees).isEqualTo(2); // the cache was emptied before the retry
    }
}
