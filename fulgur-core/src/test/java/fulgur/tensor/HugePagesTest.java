package fulgur.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Huge-page blocks where Linux offers transparent huge pages on request: what the kernel was told is read back from
 * {@code /proc/self/smaps} (the mapping's range and its {@code hg} flag), not whether it found free huge pages.
 */
class HugePagesTest {

    private static final long MIB = 1L << 20;

    @Test
    void theWholeHugePagesOfTheWantedBytesAreAdvisedAndTheRestIsNot() throws Exception {
        assumeTrue(HugePages.available(), "transparent huge pages on request (Linux, madvise or always)");
        MemorySegment s;
        long start;
        try (Arena arena = Arena.ofShared()) {
            s = HugePages.allocate(5 * MIB + 123, 4 * MIB + 5, arena);
            assertThat(s).isNotNull();
            start = s.address();
            assertThat(start % HugePages.SIZE).isZero();
            assertThat(s.byteSize()).isEqualTo(5 * MIB + 123);
            for (long i = 0; i < s.byteSize(); i += 4096) {
                assertThat(s.get(ValueLayout.JAVA_BYTE, i)).isZero();
                s.set(ValueLayout.JAVA_BYTE, i, (byte) 7);
            }
            s.set(ValueLayout.JAVA_BYTE, s.byteSize() - 1, (byte) 9);
            assertThat(s.get(ValueLayout.JAVA_BYTE, s.byteSize() - 1)).isEqualTo((byte) 9);
            Mapping huge = mapping(start);
            assertThat(huge.flags()).contains("hg");
            assertThat(huge.start()).isEqualTo(start);
            assertThat(huge.end()).isEqualTo(start + 4 * MIB);
            assertThat(mapping(start + 4 * MIB).flags()).doesNotContain("hg");
        }
        assertThat(mappingOrNull(start)).as("unmapped when the arena closed").isNull();
    }

    @Test
    void lessThanOneWholeHugePageIsLeftToTheCaller() {
        try (Arena arena = Arena.ofShared()) {
            assertThat(HugePages.allocate(HugePages.SIZE - 1, HugePages.SIZE - 1, arena))
                    .isNull();
            assertThat(HugePages.allocate(8 * MIB, HugePages.SIZE - 1, arena)).isNull();
        }
    }

    @Test
    void largeHostTensorsStartOnAHugePage() {
        assumeTrue(HugePages.available(), "transparent huge pages on request (Linux, madvise or always)");
        HostStorage big = HostAllocator.allocate(DType.F32, 3 * MIB / 4 + 17);
        HostStorage small = HostAllocator.allocate(DType.F32, 1000);
        try {
            assertThat(big.segment().address() % HugePages.SIZE).isZero();
            assertThat(big.segment().byteSize()).isEqualTo((3 * MIB / 4 + 17) * 4);
            assertThat(small.segment().byteSize()).isEqualTo(4000);
        } finally {
            big.release();
            small.release();
        }
    }

    // ---------------------------------------------------------------- helpers

    record Mapping(long start, long end, List<String> flags) {}

    private static Mapping mapping(long address) throws Exception {
        Mapping m = mappingOrNull(address);
        assertThat(m).as("a mapping holds %x", address).isNotNull();
        return m;
    }

    /** The entry of /proc/self/smaps whose range holds {@code address}, with its VmFlags. */
    private static Mapping mappingOrNull(long address) throws Exception {
        List<String> lines = Files.readAllLines(Path.of("/proc/self/smaps"));
        for (int i = 0; i < lines.size(); i++) {
            String[] head = lines.get(i).split(" ", 2)[0].split("-");
            if (head.length != 2 || !head[0].matches("[0-9a-f]+")) {
                continue;
            }
            long from = Long.parseUnsignedLong(head[0], 16), to = Long.parseUnsignedLong(head[1], 16);
            if (Long.compareUnsigned(address, from) < 0 || Long.compareUnsigned(address, to) >= 0) {
                continue;
            }
            for (int j = i + 1; j < lines.size(); j++) {
                if (lines.get(j).startsWith("VmFlags:")) {
                    return new Mapping(
                            from,
                            to,
                            List.of(lines.get(j)
                                    .substring("VmFlags:".length())
                                    .trim()
                                    .split("\\s+")));
                }
            }
        }
        return null;
    }
}
