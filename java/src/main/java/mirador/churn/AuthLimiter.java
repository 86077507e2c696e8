package mirador.churn;

import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Failed authentications per client: more than burst within window seconds and the client is
 * refused (429), as churn_serve does.
 */
final class AuthLimiter {
    private final int burst;
    private final double window;
    private final Map<String, ArrayDeque<Double>> fails;

    AuthLimiter(int burst, double window, int maxClients) {
        this.burst = burst;
        this.window = window;
        this.fails =
                new LinkedHashMap<>(
                        16, 0.75f,
                        true) { // least recently failed clients dropped first: bounded memory
                    @Override
                    protected boolean removeEldestEntry(Map.Entry<String, ArrayDeque<Double>> e) {
                        return size() > maxClients;
                    }
                };
    }

    static double now() {
        return System.nanoTime() / 1e9;
    }

    /** Count a failed authentication of client. */
    synchronized void failed(String client, double now) {
        ArrayDeque<Double> q = fails.computeIfAbsent(client, c -> new ArrayDeque<>());
        q.addLast(now);
        while (q.size() > burst + 1) q.removeFirst();
    }

    /** Seconds before client may try again (0: now). */
    synchronized double waitFor(String client, double now) {
        ArrayDeque<Double> q = fails.get(client);
        if (q == null || q.size() <= burst) return 0;
        return Math.max(0, q.peekFirst() + window - now);
    }
}
