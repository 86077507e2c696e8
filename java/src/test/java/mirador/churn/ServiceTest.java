package mirador.churn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The real application on a random port of 127.0.0.1, a real HTTP client, the ONNX files the Python
 * side made.
 */
class ServiceTest {
    static final String KEY = "junit-key-0123456789abcdef",
            OTHER_KEY = "junit-key-second-0123456789";
    static final JsonMapper JSON = JsonMapper.builder().build();
    static final HttpClient HTTP =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    static Path models, dir;
    static JsonNode expected;
    static ConfigurableApplicationContext app;
    static String url;

    /**
     * The folder of the test models: -Dchurn.test.models (tests/test_java.py passes its own) or the
     * committed ones.
     */
    static Path models() {
        return Path.of(System.getProperty("churn.test.models", "src/test/resources/models"));
    }

    static ConfigurableApplicationContext start(Path model, Path keys, String... extra) {
        List<String> args =
                new ArrayList<>(
                        List.of(
                                "--model",
                                model.toString(),
                                "--api-keys-file",
                                keys.toString(),
                                "--port",
                                "0",
                                "--host",
                                "127.0.0.1",
                                "--poll-every",
                                "0.1",
                                "--max-rows",
                                "100"));
        args.addAll(List.of(extra));
        return ChurnApplication.start(args.toArray(String[]::new));
    }

    static String urlOf(ConfigurableApplicationContext ctx) {
        return "http://127.0.0.1:" + ((WebServerApplicationContext) ctx).getWebServer().getPort();
    }

    @BeforeAll
    static void up(@TempDir Path tmp) throws IOException {
        models = models();
        dir = tmp;
        expected = JSON.readTree(models.resolve("features.json").toFile());
        Files.copy(models.resolve("model.onnx"), tmp.resolve("model.onnx"));
        Files.writeString(tmp.resolve("keys.txt"), "# keys\n" + KEY + "\n");
        app = start(tmp.resolve("model.onnx"), tmp.resolve("keys.txt"));
        url = urlOf(app);
    }

    @AfterAll
    static void down() {
        if (app != null) app.close();
    }

    static HttpResponse<String> send(
            String method, String path, String body, String key, Map<String, String> headers)
            throws Exception {
        HttpRequest.Builder b =
                HttpRequest.newBuilder(URI.create(url + path))
                        .timeout(Duration.ofSeconds(30))
                        .method(
                                method,
                                body == null
                                        ? HttpRequest.BodyPublishers.noBody()
                                        : HttpRequest.BodyPublishers.ofString(body));
        if (key != null) b.header("X-API-Key", key);
        if (body != null) b.header("Content-Type", "application/json");
        headers.forEach(b::header);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> post(String path, String body) throws Exception {
        return send("POST", path, body, KEY, Map.of());
    }

    static HttpResponse<String> get(String path, String key) throws Exception {
        return send("GET", path, null, key, Map.of());
    }

    static String rows(JsonNode rows) {
        return "{\"rows\": " + rows + "}";
    }

    static ObjectNode row(int i) {
        return ((ObjectNode) expected.get("rows").get(i)).deepCopy();
    }

    static String detail(HttpResponse<String> r) {
        return JSON.readTree(r.body()).get("detail").asString();
    }

    @Test
    void predictGivesThePythonScorersProbabilities() throws Exception {
        HttpResponse<String> r = post("/v1/churn/predict", rows(expected.get("rows")));
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = JSON.readTree(r.body());
        JsonNode p = body.get("probabilities"), want = expected.get("probabilities");
        assertEquals(want.size(), p.size());
        double worst = 0;
        for (int i = 0; i < p.size(); i++)
            worst = Math.max(worst, Math.abs(p.get(i).doubleValue() - want.get(i).doubleValue()));
        assertTrue(worst <= 1e-6, "max |diff| " + worst);
        assertEquals(get("/v1/churn/model", KEY).statusCode(), 200);
        assertEquals(
                JSON.readTree(get("/v1/churn/model", KEY).body()).get("model_version"),
                body.get("model_version"));
        assertTrue(r.headers().firstValue("Server-Timing").orElse("").startsWith("app;dur="));
        // negative control: another model's answer to the same rows is not within 1e-6
        try (ChurnModel other = ChurnModel.load(models.resolve("other.onnx").toString(), 1)) {
            float[] x = new float[p.size() * 8];
            for (int i = 0; i < p.size(); i++)
                for (int j = 0; j < 8; j++)
                    x[i * 8 + j] =
                            (float)
                                    expected.get("rows")
                                            .get(i)
                                            .get(other.features.get(j))
                                            .doubleValue();
            float[] q = other.predict(x, p.size());
            double diff = 0;
            for (int i = 0; i < q.length; i++)
                diff = Math.max(diff, Math.abs(q[i] - want.get(i).doubleValue()));
            assertTrue(diff > 1e-6, "another model agrees within 1e-6: " + diff);
        }
    }

    @Test
    void everyRouteButTheProbesNeedsAKey() throws Exception {
        for (String path : List.of("/v1/churn/model", "/metrics", "/v1/churn/nothing-here")) {
            HttpResponse<String> r = get(path, null);
            assertEquals(401, r.statusCode(), path);
            assertEquals("missing or invalid X-API-Key header", detail(r));
            assertEquals(
                    "ApiKey header=\"X-API-Key\"",
                    r.headers().firstValue("WWW-Authenticate").orElse(null));
            assertEquals(401, get(path, KEY + "x").statusCode());
            assertEquals(401, get(path, KEY.substring(1)).statusCode());
        }
        assertEquals(
                401,
                send("POST", "/v1/churn/predict", rows(expected.get("rows")), null, Map.of())
                        .statusCode());
        assertEquals(401, send("POST", "/mcp", "{}", "", Map.of()).statusCode());
        assertEquals(200, get("/healthz", null).statusCode());
        assertEquals("{\"status\":\"ok\"}", get("/healthz", null).body());
        JsonNode ready = JSON.readTree(get("/readyz", null).body());
        assertEquals("ready", ready.get("status").asString());
        assertEquals(
                404,
                get("/v1/churn/nothing-here", KEY)
                        .statusCode()); // with a key: the route is what is missing
        HttpResponse<String> twice =
                send("GET", "/v1/churn/model", null, KEY, Map.of("X-API-Key", KEY));
        assertEquals(400, twice.statusCode());
        assertEquals("more than one X-API-Key header", detail(twice));
        HttpResponse<String> getMcp = get("/mcp", KEY);
        assertEquals(405, getMcp.statusCode());
        assertEquals("POST", getMcp.headers().firstValue("Allow").orElse(null));
        assertEquals(
                "no-store",
                get("/healthz", null).headers().firstValue("Cache-Control").orElse(null));
        assertEquals(
                "nosniff",
                get("/v1/churn/model", KEY)
                        .headers()
                        .firstValue("X-Content-Type-Options")
                        .orElse(null));
    }

    @Test
    void badRowsAreRefusedNamingTheRowAndField() throws Exception {
        String names =
                String.join(
                        ", ", ChurnModel.load(models.resolve("model.onnx").toString(), 1).features);
        ObjectNode bad = row(1).put("email_domain_class", 5);
        assertEquals(
                "row 1, field email_domain_class: 5 is not one of the classes [0, 1, 2, 3]",
                detail(
                        post(
                                "/v1/churn/predict",
                                rows(JSON.createArrayNode().add(row(0)).add(bad)))));
        ObjectNode text = row(0).put("order_frequency", "3");
        assertEquals(
                "row 0, field order_frequency: expected a number, got \"3\"",
                detail(post("/v1/churn/predict", rows(JSON.createArrayNode().add(text)))));
        ObjectNode huge = row(0).put("total_revenue_30d", 1e39);
        assertEquals(
                "row 0, field total_revenue_30d: 1e+39 is not a finite float32 number",
                detail(post("/v1/churn/predict", rows(JSON.createArrayNode().add(huge)))));
        ObjectNode extra = row(0).put("x", 1);
        assertEquals(
                "row 0: unknown field 'x' (the features are " + names + ")",
                detail(post("/v1/churn/predict", rows(JSON.createArrayNode().add(extra)))));
        ObjectNode missing = row(0);
        missing.remove("cart_diversity");
        assertEquals(
                "row 0: missing field cart_diversity",
                detail(post("/v1/churn/predict", rows(JSON.createArrayNode().add(missing)))));
        assertEquals(
                "row 0: expected an object of the features " + names + ", got int",
                detail(post("/v1/churn/predict", "{\"rows\": [1]}")));
        assertEquals(
                "expected {\"rows\": [{feature: number, ...}, ...]}, got int rows",
                detail(post("/v1/churn/predict", "{\"rows\": 3}")));
        assertEquals(
                "expected {\"rows\": [{feature: number, ...}, ...]}",
                detail(post("/v1/churn/predict", "[]")));
        assertEquals("no rows to score", detail(post("/v1/churn/predict", "{\"rows\": []}")));
        HttpResponse<String> nan =
                post(
                        "/v1/churn/predict",
                        "{\"rows\": [" + row(0).toString().replaceFirst(":[^,]+,", ":NaN,") + "]}");
        assertEquals(422, nan.statusCode());
        assertEquals("the body is not JSON: NaN is not a JSON number", detail(nan));
        assertEquals(
                "the body nests arrays or objects too deeply to be a prediction request",
                detail(post("/v1/churn/predict", "[".repeat(100_000))));
        HttpResponse<String> notJson = post("/v1/churn/predict", "{");
        assertEquals(422, notJson.statusCode());
        assertTrue(detail(notJson).startsWith("the body is not JSON: "), notJson.body());
        // the check can fail: a good row passes it
        assertEquals(
                200,
                post("/v1/churn/predict", rows(JSON.createArrayNode().add(row(0)))).statusCode());
    }

    @Test
    void requestsAreBoundedInRowsAndBytes() throws Exception {
        List<JsonNode> many = new ArrayList<>();
        for (int i = 0; i < 101; i++) many.add(row(0));
        HttpResponse<String> r = post("/v1/churn/predict", rows(JSON.valueToTree(many)));
        assertEquals(413, r.statusCode());
        assertEquals("101 rows; a request may hold at most 100", detail(r));
        assertEquals(
                200,
                post("/v1/churn/predict", rows(JSON.valueToTree(many.subList(0, 100))))
                        .statusCode());
        String big = "{\"rows\": [], \"pad\": \"" + "x".repeat(9 << 20) + "\"}";
        HttpResponse<String> declared = post("/v1/churn/predict", big);
        assertEquals(413, declared.statusCode());
        assertTrue(detail(declared).startsWith("body of 9,437,"), declared.body());
        // chunked: no Content-Length, the bound holds while the body is read
        HttpRequest chunked =
                HttpRequest.newBuilder(URI.create(url + "/v1/churn/predict"))
                        .header("X-API-Key", KEY)
                        .POST(
                                HttpRequest.BodyPublishers.ofInputStream(
                                        () ->
                                                new InputStream() {
                                                    long left = 9L << 20;

                                                    @Override
                                                    public int read() {
                                                        return left-- > 0 ? 'x' : -1;
                                                    }
                                                }))
                        .build();
        HttpResponse<String> c = HTTP.send(chunked, HttpResponse.BodyHandlers.ofString());
        assertEquals(413, c.statusCode());
        assertEquals("body larger than the limit of 8,388,608 bytes", detail(c));
    }

    static JsonNode mcp(String method, Object params) throws Exception {
        ObjectNode req =
                JSON.createObjectNode().put("jsonrpc", "2.0").put("id", 1).put("method", method);
        if (params != null) req.set("params", JSON.valueToTree(params));
        HttpResponse<String> r =
                send(
                        "POST",
                        "/mcp",
                        req.toString(),
                        KEY,
                        Map.of("Accept", "application/json, text/event-stream"));
        assertEquals(200, r.statusCode(), r.body());
        return JSON.readTree(r.body()).get("result");
    }

    @Test
    void mcpToolScoresAndRefusesLikeRest() throws Exception {
        JsonNode tools = mcp("tools/list", null).get("tools");
        assertEquals(1, tools.size());
        assertEquals("predict_churn", tools.get(0).get("name").asString());
        assertEquals("array", tools.get(0).at("/inputSchema/properties/rows/type").asString());
        JsonNode ok =
                mcp(
                        "tools/call",
                        Map.of(
                                "name",
                                "predict_churn",
                                "arguments",
                                Map.of("rows", expected.get("rows"))));
        assertFalse(ok.get("isError").asBoolean());
        JsonNode rest = JSON.readTree(post("/v1/churn/predict", rows(expected.get("rows"))).body());
        assertEquals(rest, ok.get("structuredContent"));
        assertEquals(rest, JSON.readTree(ok.at("/content/0/text").asString()));
        JsonNode bad =
                mcp(
                        "tools/call",
                        Map.of(
                                "name",
                                "predict_churn",
                                "arguments",
                                Map.of("rows", List.of(row(0).put("email_domain_class", 7)))));
        assertTrue(bad.get("isError").asBoolean());
        assertEquals(
                "Error executing tool predict_churn: row 0, field email_domain_class: 7 is not one"
                        + " of the classes [0, 1, 2, 3]",
                bad.at("/content/0/text").asString());
    }

    @Test
    void metricsCountRowsAndRequests() throws Exception {
        post("/v1/churn/predict", rows(expected.get("rows")));
        String m = get("/metrics", KEY).body();
        assertTrue(m.contains("churn_scored_rows_total{interface=\"rest\"}"), m);
        assertTrue(
                m.contains(
                        "churn_http_requests_total{method=\"POST\",route=\"/v1/churn/predict\",status=\"200\"}"));
        String version =
                JSON.readTree(get("/v1/churn/model", KEY).body()).get("model_version").asString();
        assertTrue(m.contains("churn_model_info{model_version=\"" + version + "\"} 1"), m);
        assertTrue(m.contains("churn_served_probability_bucket"));
        assertFalse(m.contains(KEY), "the key is in the metrics");
    }

    @Test
    void foreignBrokenOrUnkeyedStartsAreRefusedInOneLine(@TempDir Path tmp) throws IOException {
        Path keys = tmp.resolve("keys.txt");
        Files.writeString(keys, KEY + "\n");
        Path broken = tmp.resolve("broken.onnx");
        Files.write(broken, new byte[] {8, 7, 1, 2, 3, 4, 5, 6});
        Map<String, String> refused =
                Map.of(
                        "foreign.onnx", "no `features` list in the model metadata",
                        "shifted.onnx", "`churn_probability` is outside [0, 1] in 12 rows");
        for (var e : refused.entrySet()) {
            ServeException x =
                    assertThrows(
                            ServeException.class, () -> start(models.resolve(e.getKey()), keys));
            assertTrue(x.getMessage().contains(e.getValue()), x.getMessage());
            assertFalse(x.getMessage().contains("\n"), x.getMessage());
        }
        ServeException b = assertThrows(ServeException.class, () -> start(broken, keys));
        assertTrue(
                b.getMessage().startsWith(broken + ": not a loadable ONNX model ("),
                b.getMessage());
        assertTrue(
                assertThrows(ServeException.class, () -> start(tmp.resolve("none.onnx"), keys))
                        .getMessage()
                        .endsWith("no such model file"));
        Files.writeString(keys, "abababababababababab\n");
        assertEquals(
                "line 1 of "
                        + keys
                        + ": an API key must hold 64 bits by the rule length × log2(distinct"
                        + " characters): use a random one",
                assertThrows(ServeException.class, () -> start(models.resolve("model.onnx"), keys))
                        .getMessage());
        Files.writeString(keys, " " + KEY + "\n");
        assertEquals(
                "line 1 of " + keys + ": whitespace around a key (a line is one key)",
                assertThrows(ServeException.class, () -> start(models.resolve("model.onnx"), keys))
                        .getMessage());
        Files.writeString(keys, "short-key\n");
        assertEquals(
                "line 1 of "
                        + keys
                        + ": an API key must be at least 16 printable ASCII characters without"
                        + " spaces",
                assertThrows(ServeException.class, () -> start(models.resolve("model.onnx"), keys))
                        .getMessage());
    }

    @Test
    void wrongKeysAreRateLimitedPerClient(@TempDir Path tmp) throws Exception {
        Path keys = tmp.resolve("keys.txt");
        Files.writeString(keys, KEY + "\n");
        ConfigurableApplicationContext ctx = start(models.resolve("model.onnx"), keys);
        String saved = url;
        try {
            url = urlOf(ctx);
            for (int i = 0; i < 21; i++)
                assertEquals(401, get("/v1/churn/model", "wrong-key-" + i).statusCode());
            HttpResponse<String> r = get("/v1/churn/model", KEY); // now even the right key waits
            assertEquals(429, r.statusCode());
            assertEquals("too many wrong keys; try again later", detail(r));
            assertTrue(Integer.parseInt(r.headers().firstValue("Retry-After").orElse("0")) > 0);
            assertEquals(200, get("/healthz", null).statusCode()); // the probes are not limited
        } finally {
            url = saved;
            ctx.close();
        }
        // the check can fail: below the burst the right key is served
        ConfigurableApplicationContext fresh = start(models.resolve("model.onnx"), keys);
        try {
            url = urlOf(fresh);
            for (int i = 0; i < 19; i++) get("/v1/churn/model", "wrong-key-" + i);
            assertEquals(200, get("/v1/churn/model", KEY).statusCode());
        } finally {
            url = saved;
            fresh.close();
        }
    }

    static JsonNode waitFor(String what, java.util.function.Predicate<JsonNode> ok, String path)
            throws Exception {
        long end = System.nanoTime() + 20_000_000_000L;
        JsonNode last = null;
        while (System.nanoTime() < end) {
            HttpResponse<String> r = get(path, KEY);
            last = JSON.readTree(r.body());
            assertTrue(
                    r.statusCode() == 200 || r.statusCode() == 503,
                    path + " answered " + r.statusCode() + ": " + r.body());
            if (ok.test(last)) return last;
            Thread.sleep(50);
        }
        throw new AssertionError(what + ": " + last);
    }

    @Test
    void modelSwapsWhenTheFileChangesAndABadFileKeepsTheOld(@TempDir Path tmp) throws Exception {
        Path model = tmp.resolve("model.onnx"), keys = tmp.resolve("keys.txt");
        Files.copy(models.resolve("model.onnx"), model);
        Files.writeString(keys, KEY + "\n");
        ConfigurableApplicationContext ctx = start(model, keys);
        String saved = url;
        try {
            url = urlOf(ctx);
            String a =
                    JSON.readTree(get("/v1/churn/model", KEY).body())
                            .get("model_version")
                            .asString();
            String b;
            try (ChurnModel other = ChurnModel.load(models.resolve("other.onnx").toString(), 1)) {
                b = other.metadata.get("model_version");
            }
            assertNotEquals(a, b);
            // predicts in the background all through both file moves: every one is a 200
            java.util.concurrent.atomic.AtomicBoolean stop =
                    new java.util.concurrent.atomic.AtomicBoolean();
            List<String> answers = java.util.Collections.synchronizedList(new ArrayList<>());
            String body = rows(expected.get("rows")), at = url;
            Thread load =
                    new Thread(
                            () -> {
                                while (!stop.get()) {
                                    try {
                                        HttpResponse<String> r =
                                                HTTP.send(
                                                        HttpRequest.newBuilder(
                                                                        URI.create(
                                                                                at
                                                                                        + "/v1/churn/predict"))
                                                                .header("X-API-Key", KEY)
                                                                .header(
                                                                        "Content-Type",
                                                                        "application/json")
                                                                .POST(
                                                                        HttpRequest.BodyPublishers
                                                                                .ofString(body))
                                                                .build(),
                                                        HttpResponse.BodyHandlers.ofString());
                                        answers.add(r.statusCode() + " " + r.body());
                                    } catch (Exception e) {
                                        answers.add("failed " + e);
                                    }
                                }
                            },
                            "predicts");
            load.start();
            while (answers.isEmpty()) Thread.sleep(5);
            Files.copy(models.resolve("other.onnx"), tmp.resolve("next.onnx"));
            Files.move(
                    tmp.resolve("next.onnx"),
                    model,
                    StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
            waitFor(
                    "swap to " + b,
                    j -> b.equals(j.get("model_version").asString()),
                    "/v1/churn/model");
            assertEquals(
                    b,
                    JSON.readTree(post("/v1/churn/predict", rows(expected.get("rows"))).body())
                            .get("model_version")
                            .asString());
            Files.writeString(tmp.resolve("bad.onnx"), "not a model");
            Files.move(
                    tmp.resolve("bad.onnx"),
                    model,
                    StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
            JsonNode ready =
                    waitFor(
                            "stale model",
                            j -> j.get("stale").toString().contains("model"),
                            "/readyz");
            assertEquals("stale", ready.get("status").asString());
            assertEquals(503, get("/readyz", null).statusCode());
            assertFalse(
                    get("/readyz", null).body().contains("not a loadable"),
                    "errors shown without a key");
            assertTrue(
                    ready.at("/errors/model").asString().contains("not a loadable ONNX model"),
                    ready.toString());
            assertEquals(b, ready.get("model_version").asString());
            assertEquals(200, post("/v1/churn/predict", rows(expected.get("rows"))).statusCode());
            stop.set(true);
            load.join(30_000);
            assertFalse(load.isAlive());
            assertTrue(answers.size() > 10, "only " + answers.size() + " predicts ran");
            List<String> bad = answers.stream().filter(x -> !x.startsWith("200 ")).toList();
            assertEquals(List.of(), bad, bad.size() + " of " + answers.size() + " predicts failed");
            java.util.Set<String> versions = new java.util.HashSet<>();
            for (String x : answers)
                versions.add(JSON.readTree(x.substring(4)).get("model_version").asString());
            assertEquals(java.util.Set.of(a, b), versions); // they ran before and after the swap
            // keys file: a new key works within a poll, the removed one stops
            Files.writeString(keys, OTHER_KEY + "\n");
            long end = System.nanoTime() + 20_000_000_000L;
            while (get("/v1/churn/model", OTHER_KEY).statusCode() != 200 && System.nanoTime() < end)
                Thread.sleep(50);
            assertEquals(200, get("/v1/churn/model", OTHER_KEY).statusCode());
            assertEquals(401, get("/v1/churn/model", KEY).statusCode());
        } finally {
            url = saved;
            ctx.close();
        }
    }
}
