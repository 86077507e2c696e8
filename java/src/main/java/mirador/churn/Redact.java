package mirador.churn;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Text with every URL password and secret query parameter replaced by ***, as
 * mirador_churn.data.redact does it.
 */
final class Redact {
    private Redact() {}

    private static final String KEYS =
            "password|passwd|pass|pwd|secret|client_secret|token|access_token|auth_token|api_key|apikey|api-key";
    private static final String VALUE =
            "('[^']*'|\"[^\"]*\"|[^&;#\\s'\"<>]*?(?=[,.)\\]]*(?:[&;#\\s'\"<>]|$)))";
    private static final Pattern PARAM = Pattern.compile("(?i)(^|[?&;\\s])(" + KEYS + ")=" + VALUE);
    private static final Pattern AUTHORITY =
            Pattern.compile("(?i)\\b([a-z][a-z0-9+.\\-]*://)([^/?#\\s]*)");

    static String redact(String text) {
        if (text == null) return null;
        String t =
                AUTHORITY
                        .matcher(text)
                        .replaceAll(
                                m ->
                                        Matcher.quoteReplacement(
                                                hide(m.group(1), m.group(2), m.group(0))));
        return PARAM.matcher(t)
                .replaceAll(
                        m ->
                                Matcher.quoteReplacement(
                                        m.group(1)
                                                + m.group(2)
                                                + "="
                                                + (m.group(3).isEmpty() ? "" : "***")));
    }

    private static String hide(String scheme, String authority, String whole) {
        int at = authority.lastIndexOf('@');
        if (at < 0) return whole;
        String user = authority.substring(0, at), host = authority.substring(at + 1);
        if (user.indexOf(':') < 0) return whole;
        return scheme + user.substring(0, user.indexOf(':')) + ":***@" + host;
    }
}
