package fulgur.backend.cpu;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The data cache sizes that one hardware thread can count on, read once from {@code /sys/devices/system/cpu/cpu0/cache}
 * (Linux); where that is missing or unreadable, sizes common to current x86 and ARM server cores. L1 and L2 are divided
 * among the logical CPUs that share them ({@code shared_cpu_list}): with two threads a core (SMT), as the GEMM runs one
 * worker per logical CPU, each gets half of its core's L1 and L2, and blocking for the whole of them would make the
 * two evict each other's panels. L3 is the size the core shares.
 *
 * @param l1 bytes of L1 data cache per hardware thread
 * @param l2 bytes of L2 per hardware thread
 * @param l3 bytes of last-level cache (shared), or the L2 size where there is none
 */
record CpuCaches(long l1, long l2, long l3) {

    static final CpuCaches DEFAULT = new CpuCaches(32 << 10, 1 << 20, 32 << 20);
    private static final Path SYSFS = Path.of("/sys/devices/system/cpu/cpu0/cache");

    /** This machine's caches (sysfs, else {@link #DEFAULT}). */
    static CpuCaches read() {
        return read(SYSFS);
    }

    /** The caches described under {@code dir} (one {@code indexN} folder per cache, as sysfs lays them out). */
    static CpuCaches read(Path dir) {
        long l1 = 0, l2 = 0, l3 = 0;
        for (int i = 0; i < 8; i++) {
            Path idx = dir.resolve("index" + i);
            if (!Files.isDirectory(idx)) {
                continue;
            }
            try {
                String type = Files.readString(idx.resolve("type")).trim();
                int level =
                        Integer.parseInt(Files.readString(idx.resolve("level")).trim());
                long size = parseSize(Files.readString(idx.resolve("size")));
                if (type.equals("Instruction") || size <= 0) {
                    continue;
                }
                if (level <= 2) {
                    size /= sharers(idx.resolve("shared_cpu_list"));
                }
                switch (level) {
                    case 1 -> l1 = size;
                    case 2 -> l2 = size;
                    case 3 -> l3 = size;
                    default -> {}
                }
            } catch (IOException | RuntimeException e) {
                // an unreadable entry leaves that level at its default
            }
        }
        return new CpuCaches(
                l1 > 0 ? l1 : DEFAULT.l1, l2 > 0 ? l2 : DEFAULT.l2, l3 > 0 ? l3 : l2 > 0 ? l2 : DEFAULT.l3);
    }

    /** The number of logical CPUs in a sysfs CPU list such as "0", "0-1" or "0,8"; 1 when unreadable. */
    static int sharers(Path list) {
        try {
            return Math.max(1, countCpus(Files.readString(list)));
        } catch (IOException | RuntimeException e) {
            return 1;
        }
    }

    static int countCpus(String list) {
        int n = 0;
        for (String part : list.trim().split(",")) {
            if (part.isBlank()) continue;
            int dash = part.indexOf('-');
            n += dash < 0
                    ? 1
                    : Integer.parseInt(part.substring(dash + 1).trim())
                            - Integer.parseInt(part.substring(0, dash).trim())
                            + 1;
        }
        return n;
    }

    /** "48K", "2048K", "32M" or a plain byte count; 0 when unparsable. */
    static long parseSize(String s) {
        String t = s.trim().toUpperCase(Locale.ROOT);
        if (t.isEmpty()) {
            return 0;
        }
        long unit = switch (t.charAt(t.length() - 1)) {
            case 'K' -> 1L << 10;
            case 'M' -> 1L << 20;
            case 'G' -> 1L << 30;
            default -> 1;
        };
        String digits = unit == 1 ? t : t.substring(0, t.length() - 1);
        try {
            return Long.parseLong(digits.trim()) * unit;
        } catch (NumberFormatException e) {
            return 0;
        }
    }
}
