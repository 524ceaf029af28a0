package fulgur.tensor;

/**
 * Where a tensor's storage lives.
 *
 * @param kind CPU or CUDA
 * @param index the device's ordinal among devices of its kind (0 for the CPU)
 */
public record Device(Kind kind, int index) {

    /** The kinds of device. */
    public enum Kind {
        /** The host CPU. */
        CPU,
        /** An NVIDIA GPU driven through CUDA. */
        CUDA
    }

    /** The host: memory and threads of this JVM. */
    public static final Device CPU = new Device(Kind.CPU, 0);

    /**
     * Checks the index.
     *
     * @throws IllegalArgumentException when {@code index} is negative
     */
    public Device {
        if (index < 0) {
            throw new IllegalArgumentException("device index must be >= 0, got " + index);
        }
    }

    /**
     * The CUDA device of ordinal {@code index}.
     *
     * @param index the ordinal, as CUDA counts devices (≥ 0)
     * @return the device
     */
    public static Device cuda(int index) {
        return new Device(Kind.CUDA, index);
    }

    /**
     * Parses "cpu", "cuda" or "cuda:N".
     *
     * @param s the text, e.g. from a command-line flag
     * @return the device
     * @throws IllegalArgumentException for any other text
     */
    public static Device parse(String s) {
        String t = s.trim().toLowerCase();
        if (t.equals("cpu")) {
            return CPU;
        }
        if (t.equals("cuda") || t.equals("gpu")) {
            return cuda(0);
        }
        if (t.startsWith("cuda:")) {
            try {
                return cuda(Integer.parseInt(t.substring(5)));
            } catch (NumberFormatException e) {
                // fall through
            }
        }
        throw new IllegalArgumentException("unknown device '" + s + "' (expected cpu, cuda or cuda:N)");
    }

    @Override
    public String toString() {
        return kind == Kind.CPU ? "cpu" : "cuda:" + index;
    }
}
