package fulgur.cuda;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The declared parameter list of an {@code extern "C" __global__} kernel, parsed from its source.
 *
 * @param name the kernel's name
 * @param params its parameters, in order
 */
public record KernelSignature(String name, List<Param> params) {

    /** What a parameter is, for checking Java arguments. */
    public enum Kind {
        /** A device pointer ({@code T*}): a {@link DevicePointer} or null. */
        POINTER("a DevicePointer (or null)"),
        /** {@code int}: an Integer. */
        INT("an Integer"),
        /** {@code long long}: a Long. */
        LONG("a Long"),
        /** {@code float}: a Float. */
        FLOAT("a Float"),
        /** {@code double}: a Double. */
        DOUBLE("a Double"),
        /** A struct passed by value: its type name ends in {@code Desc} (e.g. {@code ShapeDesc}); the argument is a {@link KernelStruct}. */
        STRUCT("a KernelStruct");

        final String expected;

        Kind(String expected) {
            this.expected = expected;
        }
    }

    /**
     * One parameter.
     *
     * @param declaration as written, e.g. {@code const float* __restrict__ q}
     * @param name its name
     * @param kind what Java argument it takes
     */
    public record Param(String declaration, String name, Kind kind) {
        @Override
        public String toString() {
            return declaration;
        }
    }

    private static final Pattern KERNEL = Pattern.compile("extern\\s+\"C\"\\s+__global__");

    /**
     * All {@code extern "C" __global__} kernels in {@code source}, by name, in source order.
     *
     * @param source CUDA source
     * @return the signatures by name
     * @throws IllegalArgumentException when a declaration is malformed
     */
    public static Map<String, KernelSignature> parseAll(String source) {
        String src = stripComments(source);
        Map<String, KernelSignature> out = new LinkedHashMap<>();
        Matcher m = KERNEL.matcher(src);
        while (m.find()) {
            int i = m.end();
            // skip qualifiers up to the name: the identifier directly before the first '(' that is not
            // __launch_bounds__
            while (true) {
                int paren = src.indexOf('(', i);
                if (paren < 0)
                    throw new IllegalArgumentException("malformed kernel declaration near: " + snippet(src, m.start()));
                String head = src.substring(i, paren).trim();
                String[] words = head.split("\\s+");
                String last = words[words.length - 1];
                if (last.equals("__launch_bounds__") || last.equals("__maxnreg__") || last.equals("__cluster_dims__")) {
                    i = matchingParen(src, paren) + 1;
                    continue;
                }
                int close = matchingParen(src, paren);
                String name = last.replace("*", "");
                out.put(name, new KernelSignature(name, parseParams(name, src.substring(paren + 1, close))));
                i = close;
                break;
            }
        }
        return out;
    }

    static List<Param> parseParams(String kernel, String list) {
        List<Param> ps = new ArrayList<>();
        if (list.isBlank() || list.trim().equals("void")) return ps;
        for (String raw : list.split(",")) {
            String decl = raw.trim().replaceAll("\\s+", " ");
            String t = decl.replace("__restrict__", " ")
                    .replace("__restrict", " ")
                    .replace("const ", " ")
                    .replace("volatile ", " ")
                    .replace("__grid_constant__", " ");
            boolean pointer = t.contains("*") || t.contains("[");
            t = t.replace("*", " * ").replaceAll("\\s+", " ").trim();
            String[] w = t.split(" ");
            String name = w[w.length - 1].replaceAll("\\[.*", "");
            String type = String.join(" ", java.util.Arrays.copyOf(w, w.length - 1))
                    .replace("*", "")
                    .trim();
            Kind kind;
            if (pointer) {
                kind = Kind.POINTER;
            } else {
                kind = switch (type) {
                    case "int", "unsigned", "unsigned int", "int32_t", "uint32_t", "signed int" -> Kind.INT;
                    case "long long",
                            "unsigned long long",
                            "long long int",
                            "int64_t",
                            "uint64_t",
                            "size_t",
                            "long",
                            "unsigned long",
                            "ptrdiff_t" -> Kind.LONG;
                    case "float" -> Kind.FLOAT;
                    case "double" -> Kind.DOUBLE;
                    default -> type.matches("[A-Z]\\w*Desc") ? Kind.STRUCT : unsupported(kernel, decl);
                };
            }
            ps.add(new Param(decl, name, kind));
        }
        return ps;
    }

    private static Kind unsupported(String kernel, String decl) {
        throw new IllegalArgumentException(
                "kernel " + kernel + ": parameter '" + decl
                        + "' has a type fulgur cannot pass (supported: pointers, int, long long, float, double, structs named *Desc)");
    }

    private static int matchingParen(String s, int open) {
        int depth = 0;
        for (int i = open; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '(') depth++;
            else if (c == ')' && --depth == 0) return i;
        }
        throw new IllegalArgumentException("unbalanced parentheses near: " + snippet(s, open));
    }

    private static String snippet(String s, int at) {
        return s.substring(at, Math.min(s.length(), at + 80)).replace('\n', ' ');
    }

    static String stripComments(String s) {
        return s.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\n]*", " ");
    }

    /**
     * Checks {@code args} against the parameters; throws {@link IllegalArgumentException} naming the kernel,
     * the parameter and what was expected.
     *
     * @param args the launch arguments
     * @throws IllegalArgumentException when they do not fit
     */
    public void check(Object... args) {
        if (args.length != params.size()) {
            throw new IllegalArgumentException(
                    "kernel " + this + " takes " + params.size() + " arguments, got " + args.length);
        }
        for (int i = 0; i < args.length; i++) {
            Param p = params.get(i);
            Object a = args[i];
            boolean ok = switch (p.kind()) {
                case POINTER -> a == null || a instanceof DevicePointer;
                case INT -> a instanceof Integer;
                case LONG -> a instanceof Long;
                case FLOAT -> a instanceof Float;
                case DOUBLE -> a instanceof Double;
                case STRUCT -> a instanceof KernelStruct;
            };
            if (!ok) {
                throw new IllegalArgumentException(
                        "kernel " + name + ": argument " + i + " (" + p.declaration() + ") needs " + p.kind().expected
                                + ", got " + (a == null ? "null" : a.getClass().getSimpleName() + " " + a));
            }
        }
    }

    @Override
    public String toString() {
        return name + "("
                + String.join(", ", params.stream().map(Param::declaration).toList()) + ")";
    }
}
