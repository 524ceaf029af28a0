package fulgur.data;

import java.util.SplittableRandom;

/**
 * A generated image-classification task: small grayscale images of one filled shape — square, disk, cross (plus
 * sign) or upward triangle — at a random position and size, with random brightness and Gaussian pixel noise.
 * Example {@code i} of the stream seeded by {@code seed} is always the same image, so train and test sets are
 * disjoint streams (different seeds) that need no storage.
 */
public final class Shapes {
    /** The class names, in label order. */
    public static final String[] CLASSES = {"square", "disk", "cross", "triangle"};

    private final int size;
    private final double noise;

    /**
     * Images of size × size pixels (≥ 8) with pixel noise of standard deviation {@code noise}.
     *
     * @param size the side in pixels, ≥ 8
     * @param noise the standard deviation of the pixel noise, ≥ 0
     * @throws IllegalArgumentException for a size under 8 or negative noise
     */
    public Shapes(int size, double noise) {
        if (size < 8) {
            throw new IllegalArgumentException("Shapes: image size must be at least 8, got " + size);
        }
        if (!(noise >= 0)) {
            throw new IllegalArgumentException("Shapes: noise must be >= 0, got " + noise);
        }
        this.size = size;
        this.noise = noise;
    }

    /** {@return the side in pixels} */
    public int size() {
        return size;
    }

    /** {@return the number of classes} */
    public int classes() {
        return CLASSES.length;
    }

    /**
     * {@code count} images [count, 1, size, size] row-major and their labels.
     *
     * @param count the images
     * @param size the side in pixels
     * @param pixels [count, 1, size, size] row-major
     * @param labels class indices [count]
     */
    public record Images(int count, int size, float[] pixels, int[] labels) {}

    /**
     * Examples {@code first .. first + count − 1} of the stream seeded by {@code seed}.
     *
     * @param seed the stream's seed
     * @param first the first example's index
     * @param count the examples, &gt; 0
     * @return the images
     * @throws IllegalArgumentException when {@code count} is not positive
     */
    public Images generate(long seed, long first, int count) {
        if (count <= 0) {
            throw new IllegalArgumentException("Shapes: count must be positive, got " + count);
        }
        float[] px = new float[count * size * size];
        int[] labels = new int[count];
        for (int e = 0; e < count; e++) {
            SplittableRandom r = new SplittableRandom(Seeds.derive(seed, 0x5348415045L, first + e));
            labels[e] = r.nextInt(CLASSES.length);
            draw(r, labels[e], px, e * size * size);
        }
        return new Images(count, size, px, labels);
    }

    private void draw(SplittableRandom r, int label, float[] px, int off) {
        int half = 3 + r.nextInt(Math.max(1, size / 4 - 1)); // half-extent 3 .. size/4 + 1
        int cy = half + r.nextInt(size - 2 * half);
        int cx = half + r.nextInt(size - 2 * half);
        double bright = 0.6 + 0.4 * r.nextDouble();
        int arm = half / 4; // a thin plus sign: 1 or 3 pixels wide
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                int dy = y - cy, dx = x - cx;
                boolean on = switch (label) {
                    case 0 -> Math.abs(dy) <= half && Math.abs(dx) <= half;
                    case 1 -> dy * dy + dx * dx <= half * half + half;
                    case 2 ->
                        (Math.abs(dy) <= half && Math.abs(dx) <= arm) || (Math.abs(dx) <= half && Math.abs(dy) <= arm);
                    // apex at the top, base at the bottom: width grows with the row
                    default -> Math.abs(dy) <= half && Math.abs(dx) <= (dy + half) / 2.0;
                };
                px[off + y * size + x] = (float) ((on ? bright : 0) + noise * gaussian(r));
            }
        }
    }

    private static double gaussian(SplittableRandom r) {
        double u = r.nextDouble(), v = r.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * v);
    }
}
