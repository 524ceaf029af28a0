package fulgur.tokenizer;

import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Translates the Oniguruma (Ruby syntax) regular expressions of Hugging Face tokenizer files into
 * {@link java.util.regex.Pattern}s with the same meaning.
 *
 * <p>Differences handled: {@code \s \d \w} and case-insensitivity are Unicode-aware in Oniguruma (so the pattern is
 * compiled with {@link Pattern#UNICODE_CHARACTER_CLASS}); {@code .} excludes only {@code \n} and {@code ^ $} are line
 * anchors ({@link Pattern#UNIX_LINES}, {@link Pattern#MULTILINE}); {@code (?m)} means dot-all; {@code \h} is a hex
 * digit (Java: horizontal space); {@code \v} is the vertical tab (Java: a class); {@code \p{^X}} negates;
 * {@code \p{Han}} and other script or property names need Java's {@code Is} prefix; POSIX brackets
 * {@code [[:alpha:]]}; {@code {,n}}; a literal {@code {} that is not a quantifier. Possessive quantifiers, atomic
 * groups, look-around and {@code (?i:...)} mean the same in both. Constructs Java lacks ({@code \K}, {@code \g<>},
 * absence operators) are refused with an error naming them.
 */
final class OnigRegex {

    static final int FLAGS = Pattern.UNICODE_CHARACTER_CLASS | Pattern.UNIX_LINES | Pattern.MULTILINE;

    private static final Map<String, String> POSIX = Map.ofEntries(
            Map.entry("alnum", "\\p{Alnum}"),
            Map.entry("alpha", "\\p{Alpha}"),
            Map.entry("ascii", "\\p{ASCII}"),
            Map.entry("blank", "\\p{Blank}"),
            Map.entry("cntrl", "\\p{Cntrl}"),
            Map.entry("digit", "\\p{Digit}"),
            Map.entry("graph", "\\p{Graph}"),
            Map.entry("lower", "\\p{Lower}"),
            Map.entry("print", "\\p{Print}"),
            Map.entry("punct", "\\p{Punct}"),
            Map.entry("space", "\\p{Space}"),
            Map.entry("upper", "\\p{Upper}"),
            Map.entry("xdigit", "\\p{XDigit}"),
            Map.entry("word", "\\w"));

    private OnigRegex() {}

    /** Compiles an Oniguruma pattern; {@code what} names it in error messages. */
    static Pattern compile(String onig, String what) {
        String java = translate(onig, what);
        try {
            return Pattern.compile(java, FLAGS);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException(
                    what + ": cannot compile regex /" + onig + "/ (as Java /" + java + "/): " + e.getDescription(), e);
        }
    }

    /** The Java spelling of an Oniguruma pattern. */
    static String translate(String p, String what) {
        StringBuilder out = new StringBuilder(p.length() + 16);
        int classDepth = 0;
        int n = p.length();
        int i = 0;
        while (i < n) {
            char c = p.charAt(i);
            if (c == '\\') {
                if (i + 1 >= n) {
                    throw unsupported(what, p, "a trailing backslash");
                }
                char e = p.charAt(i + 1);
                switch (e) {
                    case 'p', 'P' -> {
                        int close = p.indexOf('}', i + 2);
                        if (i + 2 >= n || p.charAt(i + 2) != '{' || close < 0) {
                            throw unsupported(what, p, "\\" + e + " without {name}");
                        }
                        String name = p.substring(i + 3, close);
                        boolean negate = e == 'P';
                        if (name.startsWith("^")) {
                            negate = !negate;
                            name = name.substring(1);
                        }
                        out.append(property(name, negate, what, p));
                        i = close + 1;
                        continue;
                    }
                    case 'h' -> out.append(classDepth > 0 ? "0-9a-fA-F" : "[0-9a-fA-F]");
                    case 'H' -> out.append("[^0-9a-fA-F]");
                    case 'v' -> out.append("\\x0B");
                    case 'K' -> throw unsupported(what, p, "\\K (keep)");
                    case 'g' -> throw unsupported(what, p, "\\g (subexpression call)");
                    case 'y', 'Y' -> throw unsupported(what, p, "\\" + e + " (grapheme boundary)");
                    case 'O' -> throw unsupported(what, p, "\\O (true anychar)");
                    default -> out.append(c).append(e);
                }
                i += 2;
                continue;
            }
            if (classDepth > 0) {
                if (c == '[' && i + 1 < n && p.charAt(i + 1) == ':') {
                    int end = p.indexOf(":]", i + 2);
                    if (end > 0) {
                        String name = p.substring(i + 2, end);
                        boolean neg = name.startsWith("^");
                        String key = neg ? name.substring(1) : name;
                        String cls = POSIX.get(key);
                        if (cls == null) {
                            throw unsupported(what, p, "POSIX bracket [:" + name + ":]");
                        }
                        out.append(neg ? negateEscape(cls) : cls);
                        i = end + 2;
                        continue;
                    }
                }
                if (c == '[') {
                    classDepth++;
                    out.append(c);
                    i++;
                    i = copyClassStart(p, i, out);
                    continue;
                }
                if (c == ']') {
                    classDepth--;
                }
                out.append(c);
                i++;
                continue;
            }
            switch (c) {
                case '[' -> {
                    classDepth++;
                    out.append(c);
                    i = copyClassStart(p, i + 1, out);
                    continue;
                }
                case '(' -> {
                    if (i + 2 < n && p.charAt(i + 1) == '?') {
                        char k = p.charAt(i + 2);
                        if (k == '~') {
                            throw unsupported(what, p, "the absence operator (?~...)");
                        }
                        if (k == '#') {
                            int end = p.indexOf(')', i);
                            if (end < 0) {
                                throw unsupported(what, p, "an unterminated comment group");
                            }
                            i = end + 1;
                            continue;
                        }
                        if (Character.isLetter(k) || k == '-') {
                            // inline options: Ruby's m is Java's s (dot-all)
                            int j = i + 2;
                            StringBuilder opts = new StringBuilder();
                            while (j < n && (Character.isLetter(p.charAt(j)) || p.charAt(j) == '-')) {
                                char o = p.charAt(j);
                                switch (o) {
                                    case 'i', 'x', '-' -> opts.append(o);
                                    case 'm' -> opts.append('s');
                                    default -> throw unsupported(what, p, "inline option '" + o + "'");
                                }
                                j++;
                            }
                            out.append("(?").append(opts);
                            i = j;
                            continue;
                        }
                    }
                    out.append(c);
                    i++;
                    continue;
                }
                case '{' -> {
                    int close = p.indexOf('}', i);
                    String body = close < 0 ? null : p.substring(i + 1, close);
                    if (body != null && body.matches("\\d+(,\\d*)?")) {
                        out.append(p, i, close + 1);
                        i = close + 1;
                    } else if (body != null && body.matches(",\\d+")) {
                        out.append("{0").append(body).append('}');
                        i = close + 1;
                    } else {
                        out.append("\\{");
                        i++;
                    }
                    continue;
                }
                case '}' -> {
                    out.append("\\}");
                    i++;
                    continue;
                }
                default -> {
                    out.append(c);
                    i++;
                }
            }
        }
        return out.toString();
    }

    /** After an opening '[': copies a negation '^' and a leading literal ']' (legal in Oniguruma, not in Java). */
    private static int copyClassStart(String p, int i, StringBuilder out) {
        if (i < p.length() && p.charAt(i) == '^') {
            out.append('^');
            i++;
        }
        if (i < p.length() && p.charAt(i) == ']') {
            out.append("\\]");
            i++;
        }
        return i;
    }

    private static String negateEscape(String cls) {
        if (cls.startsWith("\\p")) {
            return "\\P" + cls.substring(2);
        }
        return cls.toUpperCase(Locale.ROOT);
    }

    /** A Java spelling of Oniguruma's {@code \p{name}}: a category, script, binary property or block. */
    private static String property(String name, boolean negate, String what, String p) {
        String letter = negate ? "P" : "p";
        String compact = name.replace(" ", "").replace("_", "");
        String[] candidates = {
            name, "Is" + name, "Is" + compact, "In" + name, "In" + compact, "general_category=" + name, "script=" + name
        };
        for (String cand : candidates) {
            String java = "\\" + letter + "{" + cand + "}";
            try {
                Pattern.compile(java, FLAGS);
                return java;
            } catch (IllegalArgumentException e) {
                // PatternSyntaxException included; try the next spelling
            }
        }
        throw unsupported(what, p, "the Unicode property \\p{" + name + "}");
    }

    private static IllegalArgumentException unsupported(String what, String pattern, String feature) {
        return new IllegalArgumentException(
                what + ": regex /" + pattern + "/ uses " + feature + ", which has no Java equivalent");
    }
}
