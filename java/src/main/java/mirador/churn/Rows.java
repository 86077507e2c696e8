package mirador.churn;

import tools.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The rows of a request as a float32 matrix, or a {@link RequestException} naming the row and
 * field, as churn_serve says it.
 */
final class Rows {
    private Rows() {}

    static final double F32_MAX = Float.MAX_VALUE;
    static final Map<String, double[]> CLASS_FEATURES =
            Map.of("email_domain_class", new double[] {0, 1, 2, 3});
    static final String SHAPE = "expected {\"rows\": [{feature: number, ...}, ...]}";

    /** The float32 matrix [n, names.size()] of the JSON array rows, row-major. */
    static float[] matrix(JsonNode rows, List<String> names, int maxRows) {
        if (rows == null || !rows.isArray())
            throw new RequestException(SHAPE + ", got " + Py.typeName(rows) + " rows");
        if (rows.size() > maxRows)
            throw new RequestException(
                    Py.thousands(rows.size())
                            + " rows; a request may hold at most "
                            + Py.thousands(maxRows),
                    413);
        if (rows.isEmpty()) throw new RequestException("no rows to score");
        int w = names.size();
        float[] x = new float[rows.size() * w];
        for (int i = 0; i < rows.size(); i++) {
            String why = row(rows.get(i), i, names, x, i * w);
            if (why != null) throw new RequestException(why);
        }
        return x;
    }

    /** Fill x[at..at+w) from row r; the problem as churn_serve words it, or null. */
    private static String row(JsonNode r, int i, List<String> names, float[] x, int at) {
        if (!r.isObject())
            return "row "
                    + i
                    + ": expected an object of the features "
                    + String.join(", ", names)
                    + ", got "
                    + Py.typeName(r);
        List<String> missing = new ArrayList<>();
        for (String n : names) if (!r.has(n)) missing.add(n);
        if (!missing.isEmpty())
            return "row "
                    + i
                    + ": missing field"
                    + (missing.size() > 1 ? "s " : " ")
                    + String.join(", ", missing);
        for (String k : r.propertyNames())
            if (!names.contains(k))
                return "row "
                        + i
                        + ": unknown field "
                        + Py.repr(Py.head(k, 40))
                        + " (the features are "
                        + String.join(", ", names)
                        + ")";
        for (int j = 0; j < names.size(); j++) {
            String n = names.get(j);
            String why = badValue(r.get(n), n);
            if (why != null) return "row " + i + ", field " + n + ": " + why;
            x[at + j] = (float) r.get(n).doubleValue();
        }
        return null;
    }

    /** Why the value v of feature name cannot be scored, or null. */
    static String badValue(JsonNode v, String name) {
        if (!v.isNumber()) return "expected a number, got " + Py.head(Py.dumps(v), 40);
        double d = v.doubleValue();
        if (!(Math.abs(d) <= F32_MAX)) return Py.repr(v) + " is not a finite float32 number";
        double[] classes = CLASS_FEATURES.get(name);
        if (classes != null) {
            for (double c : classes) if (d == c) return null;
            return Py.repr(v) + " is not one of the classes [0, 1, 2, 3]";
        }
        return null;
    }
}
