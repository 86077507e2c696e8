package mirador.churn;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The served model: an .onnx file or a promotion.json, loaded at start, swapped when the file
 * changes.
 */
public final class ModelSource {
    /** A model and what the service reports about it, replaced as one reference. */
    public record Loaded(ChurnModel model, ObjectNode info) {
        public String version() {
            JsonNode v = info.get("model_version");
            return v == null || v.isNull() ? null : v.asString();
        }
    }

    private static final Logger log = LoggerFactory.getLogger(ModelSource.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();
    static final List<String> KEEP =
            List.of(
                    "model_version",
                    "data_checksum",
                    "label_windows",
                    "training_cutoffs",
                    "test_metrics",
                    "library_version",
                    "feature_versions");
    static final List<String> PROMOTION_KEYS =
            List.of("model_name", "version", "artifact_uri", "onnx_sha256", "features");
    static final long MAX_MODEL_BYTES = 256L << 20, MAX_JSON_BYTES = 1 << 20;
    private final String source, trackingUri;
    private final int threads;
    private final ScheduledExecutorService closer =
            Executors.newSingleThreadScheduledExecutor(
                    r -> {
                        Thread t = new Thread(r, "churn-model-closer");
                        t.setDaemon(true);
                        return t;
                    });
    private volatile Loaded current;
    private volatile String error;
    private volatile int loads, failures;
    private Object fingerprint;

    /** Load source now (an error propagates: the service must not start without a model). */
    public ModelSource(String source, String trackingUri, int threads) {
        this.source = source;
        this.trackingUri = trackingUri;
        this.threads = threads;
        if (!Files.exists(Path.of(source)))
            throw new ServeException(source + ": no such model file");
        fingerprint = fingerprint();
        current = load();
        loads = 1;
    }

    public Loaded current() {
        return current;
    }

    /** Stop: the closer's pending closes are dropped with the JVM's sessions. */
    void close() {
        closer.shutdownNow();
    }

    public String error() {
        return error;
    }

    public int loads() {
        return loads;
    }

    public int failures() {
        return failures;
    }

    /**
     * Load the source again if its file changed; true if a new model replaced the old one (which
     * then keeps serving in flight).
     */
    public synchronized boolean refresh() {
        try {
            Object fp = fingerprint();
            if (Objects.equals(fp, fingerprint)) return false;
            Loaded next = load();
            Loaded old = current;
            current = next;
            fingerprint = fp;
            error = null;
            loads++;
            closer.schedule(
                    old.model()::close,
                    60,
                    TimeUnit.SECONDS); // requests in flight finish on the old session
            return true;
        } catch (RuntimeException e) {
            failures++; // per failed attempt, as churn_serve counts them, for an alert
            if (!Objects.equals(error, e.getMessage()))
                log.warn(
                        "model: keeping the loaded version; reload failed: {}",
                        Redact.redact(e.getMessage()));
            error = e.getMessage();
            return false;
        }
    }

    private Object fingerprint() {
        Path p = Path.of(source);
        try {
            if (source.endsWith(".json")) return Files.exists(p) ? sha256(p) : null;
            BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
            return List.of(String.valueOf(a.fileKey()), a.size(), a.lastModifiedTime().toMillis());
        } catch (IOException e) {
            return null;
        }
    }

    private Loaded load() {
        return source.endsWith(".json") ? loadPromotion() : loadOnnx(source, source, null);
    }

    /**
     * The model in the ONNX file path, checked against the scoring contract; info as churn_serve
     * reports it.
     */
    Loaded loadOnnx(String path, String reported, ObjectNode extra) {
        ChurnModel m = ChurnModel.load(path, threads);
        ObjectNode info = JSON.createObjectNode();
        info.set("features", JSON.valueToTree(m.features));
        for (String k : KEEP) if (m.metadata.containsKey(k)) info.set(k, m.decoded(k));
        info.put("onnx_sha256", sha256(Path.of(path)));
        info.put("source", Redact.redact(reported));
        if (extra != null) info.setAll(extra);
        return new Loaded(m, info);
    }

    /**
     * The model a promotion.json names, downloaded over the MLflow REST API and checked against its
     * SHA-256 and features.
     */
    Loaded loadPromotion() {
        JsonNode p;
        try {
            p = JSON.readTree(readBounded(Path.of(source), MAX_JSON_BYTES));
        } catch (IOException | RuntimeException e) {
            throw new ServeException(
                    source
                            + ": not a readable promotion file ("
                            + ChurnModel.firstLine(e.getMessage())
                            + ")");
        }
        List<String> missing = PROMOTION_KEYS.stream().filter(k -> p == null || !p.has(k)).toList();
        if (!missing.isEmpty())
            throw new ServeException(
                    source + ": promotion file without " + String.join(", ", missing));
        String name = p.get("model_name").asString(), version = p.get("version").asString();
        Path onnx = Mlflow.download(p.get("artifact_uri").asString(), trackingUri);
        String sha = sha256(onnx), want = p.get("onnx_sha256").asString();
        if (!sha.equals(want))
            throw new ServeException(
                    source
                            + ": the ONNX file of "
                            + name
                            + " version "
                            + version
                            + " has SHA-256 "
                            + sha.substring(0, 16)
                            + "…, the promotion says "
                            + Py.head(want, 16)
                            + "…; not serving it");
        ObjectNode extra = JSON.createObjectNode();
        extra.put("model_name", name);
        extra.put("registry_version", version);
        extra.set("alias", p.has("alias") ? p.get("alias") : JSON.getNodeFactory().nullNode());
        Loaded l = loadOnnx(onnx.toString(), p.get("artifact_uri").asString(), extra);
        if (!JSON.valueToTree(l.model().features).equals(p.get("features"))) {
            l.model().close();
            throw new ServeException(
                    source
                            + ": the promotion lists features "
                            + p.get("features")
                            + ", the model has "
                            + l.model().features);
        }
        return l;
    }

    static byte[] readBounded(Path p, long limit) throws IOException {
        if (Files.size(p) > limit) throw new IOException(p + " is larger than " + limit + " bytes");
        return Files.readAllBytes(p);
    }

    /** SHA-256 of the file at p, in hex. */
    public static String sha256(Path p) {
        try (InputStream in = Files.newInputStream(p)) {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) d.update(buf, 0, n);
            return HexFormat.of().formatHex(d.digest());
        } catch (IOException | NoSuchAlgorithmException e) {
            throw new ServeException(p + ": cannot be read (" + e.getMessage() + ")");
        }
    }

    /**
     * The MLflow tracking server's REST API: a registered model version's ONNX file, downloaded
     * with bounded time and size.
     */
    static final class Mlflow {
        private static final HttpClient HTTP =
                HttpClient.newBuilder()
                        .connectTimeout(Duration.ofSeconds(10))
                        .followRedirects(HttpClient.Redirect.NEVER)
                        .build();
        private static final Pattern MODELS = Pattern.compile("models:/([^/@]+)/(\\d+)");

        static Path download(String artifactUri, String trackingUri) {
            String store = trackingUri != null ? trackingUri : System.getenv("MLFLOW_TRACKING_URI");
            Matcher m = MODELS.matcher(artifactUri);
            if (!m.matches())
                throw new ServeException(
                        Redact.redact(artifactUri) + ": expected models:/NAME/VERSION");
            if (store == null || !store.startsWith("http"))
                throw new ServeException(
                        Redact.redact(artifactUri)
                                + ": set MLFLOW_TRACKING_URI (or --tracking-uri) to the MLflow"
                                + " server's http(s) URL");
            String base = store.replaceAll("/+$", "");
            JsonNode where =
                    get(
                            base
                                    + "/api/2.0/mlflow/model-versions/get-download-uri?name="
                                    + enc(m.group(1))
                                    + "&version="
                                    + m.group(2),
                            store);
            String uri = where.path("artifact_uri").asString("");
            String prefix = "mlflow-artifacts:";
            if (!uri.startsWith(prefix))
                throw new ServeException(
                        Redact.redact(artifactUri)
                                + ": artifacts at "
                                + Redact.redact(uri)
                                + "; this service downloads from the tracking server's artifact"
                                + " proxy (mlflow-artifacts:) only");
            String root =
                    uri.substring(prefix.length())
                            .replaceFirst("^//[^/]*", "")
                            .replaceAll("^/+|/+$", "");
            List<String> onnx = new java.util.ArrayList<>();
            list(base, store, root, onnx, 0);
            if (onnx.size() != 1)
                throw new ServeException(
                        Redact.redact(artifactUri)
                                + ": expected one .onnx file, found "
                                + onnx.size());
            try {
                Path dir = Files.createTempDirectory("churn-model-"),
                        out = dir.resolve(Path.of(onnx.get(0)).getFileName());
                HttpResponse<InputStream> r =
                        HTTP.send(
                                HttpRequest.newBuilder(
                                                URI.create(
                                                        base
                                                                + "/api/2.0/mlflow-artifacts/artifacts/"
                                                                + encPath(onnx.get(0))))
                                        .timeout(Duration.ofSeconds(120))
                                        .build(),
                                HttpResponse.BodyHandlers.ofInputStream());
                try (InputStream in = r.body()) {
                    if (r.statusCode() != 200)
                        throw new ServeException(
                                Redact.redact(artifactUri)
                                        + ": download answered "
                                        + r.statusCode());
                    Path tmp = dir.resolve(".part");
                    try (InputStream bounded = in) {
                        long n =
                                Files.copy(
                                        new java.io.BufferedInputStream(bounded) {
                                            long seen;

                                            @Override
                                            public synchronized int read(byte[] b, int off, int len)
                                                    throws IOException {
                                                int k = super.read(b, off, len);
                                                if (k > 0 && (seen += k) > MAX_MODEL_BYTES)
                                                    throw new IOException(
                                                            "model file larger than "
                                                                    + MAX_MODEL_BYTES
                                                                    + " bytes");
                                                return k;
                                            }
                                        },
                                        tmp);
                        if (n == 0) throw new IOException("empty model file");
                    }
                    Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
                }
                return out;
            } catch (IOException e) {
                throw new ServeException(
                        Redact.redact(artifactUri)
                                + " from "
                                + Redact.redact(store)
                                + ": "
                                + ChurnModel.firstLine(e.getMessage()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ServeException(Redact.redact(artifactUri) + ": download interrupted");
            }
        }

        private static void list(
                String base, String store, String path, List<String> onnx, int depth) {
            if (depth > 4) return;
            JsonNode files =
                    get(base + "/api/2.0/mlflow-artifacts/artifacts?path=" + enc(path), store)
                            .path("files");
            for (JsonNode f : files) {
                String p = path + "/" + f.path("path").asString("");
                if (f.path("is_dir").asBoolean(false)) list(base, store, p, onnx, depth + 1);
                else if (p.endsWith(".onnx")) onnx.add(p);
            }
        }

        private static JsonNode get(String url, String store) {
            try {
                HttpResponse<byte[]> r =
                        HTTP.send(
                                HttpRequest.newBuilder(URI.create(url))
                                        .timeout(Duration.ofSeconds(30))
                                        .build(),
                                HttpResponse.BodyHandlers.ofByteArray());
                if (r.statusCode() != 200)
                    throw new ServeException(
                            Redact.redact(store)
                                    + " answered "
                                    + r.statusCode()
                                    + " to "
                                    + Redact.redact(
                                            url.substring(store.replaceAll("/+$", "").length())));
                if (r.body().length > MAX_JSON_BYTES)
                    throw new ServeException(
                            Redact.redact(store)
                                    + ": answer larger than "
                                    + MAX_JSON_BYTES
                                    + " bytes");
                return JSON.readTree(r.body());
            } catch (IOException e) {
                throw new ServeException(
                        Redact.redact(store) + ": " + ChurnModel.firstLine(e.getMessage()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ServeException(Redact.redact(store) + ": interrupted");
            }
        }

        private static String enc(String s) {
            return URLEncoder.encode(s, StandardCharsets.UTF_8);
        }

        private static String encPath(String p) {
            return String.join(
                    "/",
                    java.util.Arrays.stream(p.split("/"))
                            .map(s -> enc(s).replace("+", "%20"))
                            .toList());
        }
    }
}
