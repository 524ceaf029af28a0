package fulgur.tensor;

/** Where a tensor's storage lives. */
public record Device(Kind kind, int index) {

    public enum Kind { CPU, CUDA }

    public static final Device CPU = new Device(Kind.CPU, 0);

    public Device {
        if (index < 0) {
            throw new IllegalArgumentException("device index must be >= 0, got " + index);
        }
    }

    public static Device cuda(int index) {
        return new Device(Kind.CUDA, index);
    }

    /** Parses "cpu", "cuda" or "cuda:N". */
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
