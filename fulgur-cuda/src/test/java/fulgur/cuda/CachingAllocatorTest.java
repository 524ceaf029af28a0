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

    FakeBackend(long capacity) { this.capacity = capacity; }

    @Override public long malloc(long bytes) {
      if (used + bytes > capacity) throw new IllegalStateException("OOM");
      used += bytes; mallocs++;
      long a = next; next += bytes; return a;
    }
    @Override public void free(long address) { frees++; }
    @Override public boolean streamIdle(long streamId) { return idle.contains(streamId); }
    @Override public void synchronize() { syncs++; }
    @Override public boolean isOutOfMemory(RuntimeException e) { return "OOM".equals(e.getMessage()); }
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
      @Override public void free(long address) { super.free(address); used -= 2L << 20; }
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
      @Override public void free(long address) { super.free(address); used -= 2L << 20; }
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
        .isInstanceOf(OutOfMemoryError.class).hasMessageContaining("8388608 bytes requested");
    assertThat(be.syncs).isEqualTo(1);
    assertThat(be.frees).isEqualTo(2); // the cache was emptied before the retry
  }
}
