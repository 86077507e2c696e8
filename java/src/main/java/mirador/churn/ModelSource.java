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
    public record Loaded(ChurnModel model, ObjectNode info, Path downloaded) {
        Loaded(ChurnModel model, ObjectNode info) {
            this(model, info, null);
        }

        /** Close the session and delete the folder it was downloaded to (if any). */
        void release() {
            model.close();
            deleteTree(downloaded);
        }

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
    private Object fingerprint, failedFingerprint;

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
        Object fp = null;
        try {
            fp = fingerprint();
            // unchanged, or the version that failed already: not loaded (nor downloaded) again
            if (Objects.equals(fp, fingerprint) || Objects.equals(fp, failedFingerprint))
                return false;
            Loaded next = load();
            Loaded old = current;
            current = next;
            fingerprint = fp;
            failedFingerprint = null;
            error = null;
            loads++;
            closer.schedule(
                    old::release, 60, TimeUnit.SECONDS); // requests in flight finish on the old
            return true;
        } catch (RuntimeException e) {
            failedFingerprint = fp; // until the file changes again
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
        try {
            return checked(p, onnx, name, version);
        } catch (RuntimeException e) {
            deleteTree(onnx.getParent()); // a refused download leaves nothing behind
            throw e;
        }
    }

    private Loaded checked(JsonNode p, Path onnx, String name, String version) {
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
        Loaded l0 = loadOnnx(onnx.toString(), p.get("artifact_uri").asString(), extra);
        Loaded l = new Loaded(l0.model(), l0.info(), onnx.getParent());
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

    /** Delete the folder dir and what it holds (null: nothing); a failure is logged, not thrown. */
    static void deleteTree(Path dir) {
        if (dir == null || !Files.exists(dir)) return;
        try (var walk = Files.walk(dir)) {
            for (Path q : walk.sorted(java.util.Comparator.reverseOrder()).toList())
                Files.deleteIfExists(q);
        } catch (IOException | java.io.UncheckedIOException e) {
            log.warn("model: cannot delete {}: {}", dir, e.getMessage());
        }
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
            Path dir = null;
            try {
                dir = Files.createTempDirectory("churn-model-");
                Path out = dir.resolve(Path.of(onnx.get(0)).getFileName()),
                        tmp = dir.resolve(".part");
                long n;
                try (java.io.OutputStream sink = Files.newOutputStream(tmp)) {
                    n =
                            fetch(
                                    base
                                            + "/api/2.0/mlflow-artifacts/artifacts/"
                                            + encPath(onnx.get(0)),
                                    sink,
                                    MAX_MODEL_BYTES,
                                    downloadDeadline,
                                    Redact.redact(artifactUri) + ": download answered {status}");
                }
                if (n == 0) throw new IOException("empty model file");
                Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
                return out;
            } catch (IOException | RuntimeException e) {
                deleteTree(dir); // a failed download leaves no folder behind
                if (e instanceof ServeException se) throw se;
                throw new ServeException(
                        Redact.redact(artifactUri)
                                + " from "
                                + Redact.redact(store)
                                + ": "
                                + ChurnModel.firstLine(e.getMessage()));
            }
        }

        /** Deadlines for a whole answer (headers and body): a JSON one, and the model download. */
        static volatile Duration jsonDeadline = Duration.ofSeconds(30),
                downloadDeadline = Duration.ofSeconds(300);

        /**
         * GET url, its body written to sink: at most limit bytes (counted while they arrive), the
         * whole answer within deadline; a status other than 200 is a ServeException naming what.
         */
        static long fetch(
                String url, java.io.OutputStream sink, long limit, Duration deadline, String what)
                throws IOException {
            HttpRequest req = HttpRequest.newBuilder(URI.create(url)).timeout(deadline).build();
            int[] status = {0};
            java.util.concurrent.CompletableFuture<HttpResponse<Long>> f =
                    HTTP.sendAsync(
                            req,
                            info -> {
                                status[0] = info.statusCode();
                                return info.statusCode() == 200
                                        ? new BoundedBody(sink, limit)
                                        : HttpResponse.BodySubscribers.replacing(-1L);
                            });
            try {
                HttpResponse<Long> r = f.get(deadline.toNanos(), TimeUnit.NANOSECONDS);
                if (r.statusCode() != 200)
                    throw new ServeException(
                            what.replace("{status}", String.valueOf(r.statusCode())));
                return r.body();
            } catch (java.util.concurrent.TimeoutException e) {
                f.cancel(true);
                throw new IOException(
                        "no complete answer within "
                                + deadline.toSeconds()
                                + " s"
                                + (status[0] == 0 ? "" : " (the body was still arriving)"));
            } catch (java.util.concurrent.ExecutionException e) {
                Throwable c = e.getCause() != null ? e.getCause() : e;
                throw new IOException(c.getMessage() != null ? c.getMessage() : c.toString());
            } catch (InterruptedException e) {
                f.cancel(true);
                Thread.currentThread().interrupt();
                throw new IOException("interrupted");
            }
        }

        /**
         * A body written to a stream as it arrives, cut off (cancelled) once it passes limit bytes.
         */
        static final class BoundedBody implements HttpResponse.BodySubscriber<Long> {
            private final java.io.OutputStream out;
            private final long limit;
            private final java.util.concurrent.CompletableFuture<Long> done =
                    new java.util.concurrent.CompletableFuture<>();
            private java.util.concurrent.Flow.Subscription sub;
            private long seen;

            BoundedBody(java.io.OutputStream out, long limit) {
                this.out = out;
                this.limit = limit;
            }

            @Override
            public java.util.concurrent.CompletionStage<Long> getBody() {
                return done;
            }

            @Override
            public void onSubscribe(java.util.concurrent.Flow.Subscription s) {
                sub = s;
                s.request(1);
            }

            @Override
            public void onNext(List<java.nio.ByteBuffer> items) {
                try {
                    for (java.nio.ByteBuffer b : items) {
                        int n = b.remaining();
                        if ((seen += n) > limit)
                            throw new IOException("answer larger than " + limit + " bytes");
                        byte[] a = new byte[n];
                        b.get(a);
                        out.write(a);
                    }
                    sub.request(1);
                } catch (IOException e) {
                    sub.cancel();
                    done.completeExceptionally(e);
                }
            }

            @Override
            public void onError(Throwable t) {
                done.completeExceptionally(t);
            }

            @Override
            public void onComplete() {
                done.complete(seen);
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

        static JsonNode get(String url, String store) {
            String where = url.substring(store.replaceAll("/+$", "").length());
            try {
                java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
                fetch(
                        url,
                        body,
                        MAX_JSON_BYTES,
                        jsonDeadline,
                        Redact.redact(store) + " answered {status} to " + Redact.redact(where));
                return JSON.readTree(body.toByteArray());
            } catch (IOException | tools.jackson.core.JacksonException e) {
                throw new ServeException(
                        Redact.redact(store) + ": " + ChurnModel.firstLine(e.getMessage()));
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
