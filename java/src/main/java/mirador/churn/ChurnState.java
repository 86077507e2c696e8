package mirador.churn;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/** What the service serves: the model and the API keys, each reloaded when its source changes. */
public final class ChurnState implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ChurnState.class);
    public final ModelSource model;
    public final int maxRows;
    public final long maxBodyBytes;

    /**
     * Seconds a request's whole body may take to arrive (408 after), as churn_serve's body_timeout.
     */
    public final double bodyTimeout;

    private final Path keysFile;
    private final String keysEnv;
    private volatile ApiKeys keys;
    private volatile String keysError;
    private volatile int keyLoads = 1;
    private Object keysFingerprint;
    private final ScheduledExecutorService watcher =
            Executors.newSingleThreadScheduledExecutor(
                    r -> {
                        Thread t = new Thread(r, "churn-watch");
                        t.setDaemon(true);
                        return t;
                    });

    public ChurnState(
            String model,
            String trackingUri,
            Path keysFile,
            String keysEnv,
            int maxRows,
            long maxBodyBytes,
            double bodyTimeout) {
        this.keysFile = keysFile;
        this.keysEnv = keysEnv;
        this.keysFingerprint = fingerprint(keysFile);
        this.model =
                new ModelSource(
                        model,
                        trackingUri,
                        1); // the model first, then the keys, as churn_serve checks them
        this.keys = ApiKeys.load(keysEnv, "MIRADOR_API_KEYS", keysFile);
        this.maxRows = maxRows;
        this.maxBodyBytes = maxBodyBytes;
        this.bodyTimeout = bodyTimeout;
    }

    private static final ApiKeys NO_KEYS = new ApiKeys(List.of());
    private volatile int keyFailures;

    /**
     * The keys; none at all while the keys file fails to load (the service fails closed, as
     * churn_serve does).
     */
    public ApiKeys keys() {
        return keysError != null ? NO_KEYS : keys;
    }

    /** The sources that failed to reload, with why: the old version keeps serving. */
    public Map<String, String> stale() {
        Map<String, String> s = new LinkedHashMap<>();
        if (model.error() != null) s.put("model", model.error());
        if (keysError != null) s.put("api_keys", keysError);
        return s;
    }

    public Map<String, Integer> loads() {
        return Map.of("model", model.loads(), "api_keys", keyLoads);
    }

    public Map<String, Integer> failures() {
        return Map.of("model", model.failures(), "api_keys", keyFailures);
    }

    /** Check the model and keys files every pollMillis in a background thread. */
    public void startWatching(long pollMillis) {
        watcher.scheduleWithFixedDelay(
                this::refresh, pollMillis, pollMillis, TimeUnit.MILLISECONDS);
    }

    /** Check every source once; the names of those reloaded. */
    public synchronized List<String> refresh() {
        List<String> done = new java.util.ArrayList<>();
        if (model.refresh()) {
            done.add("model");
            log.info("reloaded model (model {})", model.current().version());
        }
        Object fp = fingerprint(keysFile);
        if (keysFile != null && !Objects.equals(fp, keysFingerprint)) {
            try {
                keys = ApiKeys.load(keysEnv, "MIRADOR_API_KEYS", keysFile);
                keysFingerprint = fp;
                keysError = null;
                keyLoads++;
                done.add("keys");
                log.info("reloaded keys");
            } catch (ServeException e) {
                keyFailures++;
                if (!Objects.equals(keysError, e.getMessage()))
                    log.warn(
                            "api_keys: refusing every key until the file loads; reload failed: {}",
                            e.getMessage());
                keysError = e.getMessage();
            }
        }
        return done;
    }

    private static Object fingerprint(Path p) {
        if (p == null) return null;
        try {
            BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
            return List.of(String.valueOf(a.fileKey()), a.size(), a.lastModifiedTime().toMillis());
        } catch (java.io.IOException e) {
            return null;
        }
    }

    @Override
    public void close() {
        watcher.shutdownNow();
        model.close();
    }
}
