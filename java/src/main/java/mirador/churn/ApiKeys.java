package mirador.churn;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * The service's API keys, from MIRADOR_API_KEYS and a keys file, with churn_serve's rules; valid()
 * compares in constant time.
 */
public final class ApiKeys {
    public static final int MIN_LENGTH = 16;
    private final List<byte[]> keys;

    public ApiKeys(List<String> keys) {
        this.keys = keys.stream().map(k -> k.getBytes(StandardCharsets.UTF_8)).toList();
    }

    public int size() {
        return keys.size();
    }

    @Override
    public String toString() {
        return "ApiKeys(" + size() + " key" + (size() != 1 ? "s" : "") + ")";
    }

    /** Is key one of the keys? Every key is compared, each in constant time. */
    public boolean valid(String key) {
        if (key == null || key.isEmpty() || keys.isEmpty()) return false;
        byte[] offered = key.getBytes(StandardCharsets.UTF_8);
        boolean ok = false;
        for (byte[] k : keys) ok |= MessageDigest.isEqual(offered, k);
        return ok;
    }

    /**
     * Why k cannot be an API key (never quoting it), or null: churn_serve's rules, length,
     * characters and 64 bits.
     */
    static String problem(String k) {
        if (k.length() < MIN_LENGTH || !k.chars().allMatch(c -> c > 0x20 && c < 0x7f))
            return "an API key must be at least "
                    + MIN_LENGTH
                    + " printable ASCII characters without spaces";
        if (k.length() * (Math.log(k.chars().distinct().count()) / Math.log(2)) < 64)
            return "an API key must hold 64 bits by the rule length × log2(distinct characters):"
                       + " use a random one";
        return null;
    }

    /**
     * The keys of the environment value env (comma-separated, named by envName) and of file (one a
     * line, # starts a comment line).
     */
    public static ApiKeys load(String env, String envName, Path file) {
        List<String[]> named = new ArrayList<>();
        String[] parts = env == null ? new String[0] : env.split(",", -1);
        for (int i = 0; i < parts.length; i++)
            if (!parts[i].strip().isEmpty())
                named.add(new String[] {"key " + (i + 1) + " of " + envName, parts[i]});
        if (file != null) {
            if (!Files.isRegularFile(file))
                throw new ServeException(file + ": no such API keys file");
            List<String> lines;
            try {
                lines = Files.readAllLines(file);
            } catch (IOException e) {
                throw new ServeException(file + ": cannot be read");
            }
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i);
                if (line.strip().isEmpty() || line.stripLeading().startsWith("#")) continue;
                if (!line.equals(line.strip()))
                    throw new ServeException(
                            "line "
                                    + (i + 1)
                                    + " of "
                                    + file
                                    + ": whitespace around a key (a line is one key)");
                named.add(new String[] {"line " + (i + 1) + " of " + file, line});
            }
        }
        if (named.isEmpty())
            throw new ServeException(
                    "no API keys: set "
                            + envName
                            + "=key1,key2 or pass --api-keys-file "
                            + "(every route but /healthz and /readyz needs one)");
        LinkedHashSet<String> keys = new LinkedHashSet<>();
        for (String[] nk : named) {
            String why = problem(nk[1]);
            if (why != null) throw new ServeException(nk[0] + ": " + why);
            keys.add(nk[1]);
        }
        return new ApiKeys(List.copyOf(keys));
    }
}
