package fulgur.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KernelCacheTest {

    @Test
    void keyDependsOnSourceOptionsArchAndCompiler() {
        String k = KernelCache.key("src", List.of("-DDK=128"), "sm_90a", "nvrtc 13.0");
        assertThat(k).hasSize(64);
        assertThat(KernelCache.key("src", List.of("-DDK=64"), "sm_90a", "nvrtc 13.0"))
                .isNotEqualTo(k);
        assertThat(KernelCache.key("src2", List.of("-DDK=128"), "sm_90a", "nvrtc 13.0"))
                .isNotEqualTo(k);
        assertThat(KernelCache.key("src", List.of("-DDK=128"), "sm_80", "nvrtc 13.0"))
                .isNotEqualTo(k);
        assertThat(KernelCache.key("src", List.of("-DDK=128"), "sm_90a", "nvrtc 12.8"))
                .isNotEqualTo(k);
    }

    @Test
    void roundTrips(@TempDir Path dir) {
        KernelCache c = new KernelCache(dir.resolve("sub"));
        byte[] payload = {1, 2, 3, 4, 5, 6, 7};
        assertThat(c.get("abc")).isEmpty();
        c.put("abc", payload);
        assertThat(c.get("abc")).contains(payload);
    }

    @Test
    void detectsAndDropsACorruptEntry(@TempDir Path dir) throws Exception {
        KernelCache c = new KernelCache(dir);
        byte[] payload = new byte[1000];
        for (int i = 0; i < payload.length; i++) payload[i] = (byte) (i * 7);
        c.put("k", payload);
        byte[] raw = Files.readAllBytes(c.path("k"));
        raw[raw.length - 10] ^= 0x40; // flip a bit in the payload
        Files.write(c.path("k"), raw);
        assertThat(c.get("k")).isEmpty();
        assertThat(c.path("k")).doesNotExist();
        c.put("k", payload);
        byte[] truncated = java.util.Arrays.copyOf(Files.readAllBytes(c.path("k")), 500);
        Files.write(c.path("k"), truncated);
        assertThat(c.get("k")).isEmpty();
        Files.write(c.path("k"), "garbage".getBytes());
        assertThat(c.get("k")).isEmpty();
    }
}
