package fulgur.cuda;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

/**
 * On-disk cache of compiled kernels, keyed by a SHA-256 of source, options and architecture. Each entry
 * is {@code "FULGURK1" | sha256(payload) | length | payload}; an entry whose checksum or length does not
 * match is reported, deleted and treated as absent (the caller recompiles). Writes go to a temporary
 * file that is then renamed, so a crash never leaves a half-written entry under the final name.
 */
public final class KernelCache {
    /** The environment variable naming the cache folder. */
    public static final String ENV = "FULGUR_KERNEL_CACHE";

    private static final byte[] MAGIC = "FULGURK1".getBytes(StandardCharsets.US_ASCII);

    private final Path dir;

    /**
     * A cache in {@code dir} (created at the first write).
     *
     * @param dir the folder
     */
    public KernelCache(Path dir) {
        this.dir = dir;
    }

    /**
     * FULGUR_KERNEL_CACHE, else ~/.cache/fulgur/kernels.
     *
     * @return the cache
     */
    public static KernelCache fromEnvironment() {
        String env = System.getenv(ENV);
        Path p = (env != null && !env.isBlank())
                ? Path.of(env.trim())
                : Path.of(System.getProperty("user.home"), ".cache", "fulgur", "kernels");
        return new KernelCache(p);
    }

    /** {@return the folder} */
    public Path dir() {
        return dir;
    }

    /**
     * The cache key of a compilation: a hex SHA-256 of everything the binary depends on.
     *
     * @param source the expanded source
     * @param options the compiler options
     * @param arch the target, e.g. {@code sm_90a}
     * @param compilerVersion NVRTC's version
     * @return the key
     */
    public static String key(String source, List<String> options, String arch, String compilerVersion) {
        MessageDigest md = sha256();
        for (String part : new String[] {source, String.join("\u0001", options), arch, compilerVersion}) {
            md.update(part.getBytes(StandardCharsets.UTF_8));
            md.update((byte) 0);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /**
     * {@return the file of entry {@code key}}
     *
     * @param key a key
     */
    public Path path(String key) {
        return dir.resolve(key + ".bin");
    }

    /**
     * The binary of entry {@code key}; a corrupt or unreadable entry is reported on standard error and treated as absent.
     *
     * @param key a key
     * @return the binary, or empty
     */
    public Optional<byte[]> get(String key) {
        Path p = path(key);
        if (!Files.isRegularFile(p)) return Optional.empty();
        try {
            byte[] all = Files.readAllBytes(p);
            byte[] payload = decode(all);
            if (payload == null) {
                System.err.println("fulgur: kernel cache entry " + p
                        + " is corrupt (bad magic, length or checksum); rebuilding it");
                Files.deleteIfExists(p);
                return Optional.empty();
            }
            return Optional.of(payload);
        } catch (IOException e) {
            System.err.println(
                    "fulgur: cannot read kernel cache entry " + p + ": " + e.getMessage() + "; rebuilding it");
            return Optional.empty();
        }
    }

    /**
     * Stores the binary of entry {@code key}, atomically; a failure is reported on standard error and ignored.
     *
     * @param key a key
     * @param payload the binary
     */
    public void put(String key, byte[] payload) {
        try {
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, key, ".tmp");
            Files.write(tmp, encode(payload));
            try {
                Files.move(tmp, path(key), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, path(key), StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            System.err.println("fulgur: cannot write kernel cache entry in " + dir + ": " + e.getMessage()
                    + " (continuing without)");
        }
    }

    static byte[] encode(byte[] payload) {
        ByteBuffer b = ByteBuffer.allocate(MAGIC.length + 32 + 8 + payload.length);
        b.put(MAGIC).put(sha256().digest(payload)).putLong(payload.length).put(payload);
        return b.array();
    }

    /** The payload, or null when the bytes are not a valid entry. */
    static byte[] decode(byte[] all) {
        if (all.length < MAGIC.length + 40) return null;
        if (!Arrays.equals(all, 0, MAGIC.length, MAGIC, 0, MAGIC.length)) return null;
        ByteBuffer b = ByteBuffer.wrap(all);
        b.position(MAGIC.length);
        byte[] sum = new byte[32];
        b.get(sum);
        long len = b.getLong();
        if (len != all.length - MAGIC.length - 40L) return null;
        byte[] payload = Arrays.copyOfRange(all, MAGIC.length + 40, all.length);
        return MessageDigest.isEqual(sum, sha256().digest(payload)) ? payload : null;
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
