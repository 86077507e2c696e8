package mirador.churn;

import tools.jackson.databind.JsonNode;

import java.math.BigDecimal;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;

/**
 * The few Python formats the contract's messages are written in (repr of numbers and strings,
 * json.dumps, {:,}).
 */
final class Py {
    private Py() {}

    /**
     * Python's repr of a float: shortest digits, fixed notation for 1e-4 <= |x| < 1e16, else 1e+39
     * / 1.5e-05.
     */
    static String repr(double x) {
        if (Double.isNaN(x)) return "nan";
        if (Double.isInfinite(x)) return x > 0 ? "inf" : "-inf";
        if (x == 0) return (1 / x < 0) ? "-0.0" : "0.0";
        BigDecimal d = new BigDecimal(Double.toString(Math.abs(x))).stripTrailingZeros();
        String digits = d.unscaledValue().toString();
        int exp = digits.length() - 1 - d.scale(); // x = 0.d1d2... * 10^(exp+1)
        String sign = x < 0 ? "-" : "";
        if (exp >= -4 && exp < 16) {
            if (exp >= digits.length() - 1)
                return sign + digits + "0".repeat(exp - digits.length() + 1) + ".0";
            if (exp >= 0)
                return sign + digits.substring(0, exp + 1) + "." + digits.substring(exp + 1);
            return sign + "0." + "0".repeat(-exp - 1) + digits;
        }
        String mant = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        return sign
                + mant
                + "e"
                + (exp < 0 ? "-" : "+")
                + String.format(Locale.ROOT, "%02d", Math.abs(exp));
    }

    /**
     * Python's repr of a JSON number node: an integer as its digits, a float as {@link
     * #repr(double)}.
     */
    static String repr(JsonNode n) {
        return n.isIntegralNumber() ? n.bigIntegerValue().toString() : repr(n.doubleValue());
    }

    /**
     * Python's repr of a str: single quotes unless it holds one and no double quote; escapes as
     * Python does.
     */
    static String repr(String s) {
        char q = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        StringBuilder b = new StringBuilder().append(q);
        s.codePoints()
                .forEach(
                        c -> {
                            if (c == q || c == '\\') b.append('\\').appendCodePoint(c);
                            else if (c == '\n') b.append("\\n");
                            else if (c == '\r') b.append("\\r");
                            else if (c == '\t') b.append("\\t");
                            else if (c < 0x20 || c == 0x7f)
                                b.append(String.format(Locale.ROOT, "\\x%02x", c));
                            else if (!printable(c))
                                b.append(
                                        String.format(
                                                Locale.ROOT,
                                                c <= 0xff
                                                        ? "\\x%02x"
                                                        : c <= 0xffff ? "\\u%04x" : "\\U%08x",
                                                c));
                            else b.appendCodePoint(c);
                        });
        return b.append(q).toString();
    }

    private static boolean printable(int c) {
        int t = Character.getType(c);
        return !(t == Character.CONTROL
                || t == Character.FORMAT
                || t == Character.SURROGATE
                || t == Character.PRIVATE_USE
                || t == Character.UNASSIGNED
                || t == Character.LINE_SEPARATOR
                || t == Character.PARAGRAPH_SEPARATOR
                || (t == Character.SPACE_SEPARATOR && c != ' '));
    }

    /** Python's json.dumps(v) with its defaults: ', ' and ': ' separators, non-ASCII escaped. */
    static String dumps(JsonNode n) {
        StringBuilder b = new StringBuilder();
        dumps(n, b);
        return b.toString();
    }

    private static void dumps(JsonNode n, StringBuilder b) {
        if (n.isNull()) b.append("null");
        else if (n.isBoolean()) b.append(n.booleanValue() ? "true" : "false");
        else if (n.isNumber()) {
            if (n.isIntegralNumber()) b.append(n.bigIntegerValue());
            else {
                double d = n.doubleValue();
                b.append(
                        Double.isNaN(d)
                                ? "NaN"
                                : Double.isInfinite(d)
                                        ? (d > 0 ? "Infinity" : "-Infinity")
                                        : repr(d));
            }
        } else if (n.isArray()) {
            b.append('[');
            for (int i = 0; i < n.size(); i++) {
                if (i > 0) b.append(", ");
                dumps(n.get(i), b);
            }
            b.append(']');
        } else if (n.isObject()) {
            b.append('{');
            boolean first = true;
            for (Map.Entry<String, JsonNode> e : n.properties()) {
                if (!first) b.append(", ");
                first = false;
                string(e.getKey(), b);
                b.append(": ");
                dumps(e.getValue(), b);
            }
            b.append('}');
        } else string(n.asString(), b);
    }

    private static void string(String s, StringBuilder b) {
        b.append('"');
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                case '\b' -> b.append("\\b");
                case '\f' -> b.append("\\f");
                default ->
                        b.append(
                                c < 0x20 || c > 0x7e
                                        ? String.format(Locale.ROOT, "\\u%04x", (int) c)
                                        : String.valueOf(c));
            }
        }
        b.append('"');
    }

    /** Python's type(v).__name__ of a JSON value as json.loads makes it. */
    static String typeName(JsonNode n) {
        if (n.isNull()) return "NoneType";
        if (n.isBoolean()) return "bool";
        if (n.isIntegralNumber()) return "int";
        if (n.isNumber()) return "float";
        if (n.isArray()) return "list";
        if (n.isObject()) return "dict";
        return "str";
    }

    /** f"{n:,}": thousands separated by commas. */
    /** Python's format(x, "g") for the plain numbers of a setting: 30.0 as 30, 0.5 as 0.5. */
    static String g(double x) {
        if (x == Math.rint(x) && Math.abs(x) < 1e6) return String.valueOf((long) x);
        return new java.math.BigDecimal(x)
                .round(new java.math.MathContext(6))
                .stripTrailingZeros()
                .toPlainString();
    }

    static String thousands(long n) {
        return String.format(Locale.ROOT, "%,d", n);
    }

    /** Python's s[:n] on code points. */
    static String head(String s, int n) {
        Iterator<Integer> it = s.codePoints().iterator();
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n && it.hasNext(); i++) b.appendCodePoint(it.next());
        return b.toString();
    }
}
