package fulgur.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Kernel fatbins compiled by {@code nvcc} at build time ({@link fulgur.cuda.tools.BuildFatbins}) and shipped as
 * class-path resources under {@value #ROOT}: {@code NAME.fatbin} with {@code NAME.sha256}, the hash of the exact
 * source and macro definitions it was built from. A fatbin whose hash does not match the source on the class path
 * (stale build) is ignored, and so is one without code for the present GPU; NVRTC then compiles as before.
 */
public final class Fatbins {
    /** The class-path folder of the fatbins. */
    public static final String ROOT = "fulgur/cuda/fatbin/";

    private Fatbins() {}

    /**
     * Resource base name of a module: "lightning-DK128-DV128" for lightning.cu with DK=128, DV=128.
     *
     * @param file the source file, e.g. "lightning.cu"
     * @param defines macro definitions
     * @return the name
     */
    public static String name(String file, Map<String, String> defines) {
        StringBuilder sb = new StringBuilder(file.replaceFirst("\\.cu$", ""));
        new TreeMap<>(defines).forEach((k, v) -> sb.append('-').append(k).append(v == null ? "" : v));
        return sb.toString();
    }

    /**
     * The hash that ties a fatbin to its source (after include expansion) and definitions.
     *
     * @param source the expanded source
     * @param defines macro definitions
     * @return the hex SHA-256
     */
    public static String key(String source, Map<String, String> defines) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(source.getBytes(StandardCharsets.UTF_8));
            md.update(new TreeMap<>(defines).toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The build-time fatbin for this module, if one was shipped and matches {@code source}.
     *
     * @param file the source file
     * @param defines macro definitions
     * @param source the expanded source
     * @return the fatbin, or empty
     */
    public static Optional<byte[]> find(String file, Map<String, String> defines, String source) {
        String base = ROOT + name(file, defines);
        byte[] sha = read(base + ".sha256");
        if (sha == null || !new String(sha, StandardCharsets.US_ASCII).trim().equals(key(source, defines))) {
            return Optional.empty();
        }
        return Optional.ofNullable(read(base + ".fatbin"));
    }

    private static byte[] read(String resource) {
        try (InputStream in = Fatbins.class.getClassLoader().getResourceAsStream(resource)) {
            return in == null ? null : in.readAllBytes();
        } catch (IOException e) {
            return null;
        }
    }
}
