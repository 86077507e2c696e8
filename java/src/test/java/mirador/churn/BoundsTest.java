package mirador.churn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.context.ConfigurableApplicationContext;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * The bounds a client or an upstream controls: body deadline, bounded MLflow answers, reload churn,
 * the command line's ranges, and the key as Authorization: Bearer.
 */
class BoundsTest {
    static final String KEY = ServiceTest.KEY;
    static final JsonMapper JSON = JsonMapper.builder().build();
    static final HttpClient HTTP =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    static Path models, keys;
    static JsonNode expected;
    static ConfigurableApplicationContext app;
    static String url;

    @BeforeAll
    static void up(@TempDir Path tmp) throws IOException {
        models = ServiceTest.models();
        expected = JSON.readTree(models.resolve("features.json").toFile());
        keys = tmp.resolve("keys.txt");
        Files.writeString(keys, KEY + "\n");
        app = ServiceTest.start(models.resolve("model.onnx"), keys, "--body-timeout", "1.5");
        url = ServiceTest.urlOf(app);
    }

    @AfterAll
    static void down() {
        if (app != null) app.close();
    }

    static HttpResponse<String> send(String method, String path, String body, String... headers)
            throws Exception {
        HttpRequest.Builder b =
                HttpRequest.newBuilder(URI.create(url + path))
                        .timeout(Duration.ofSeconds(30))
                        .method(
                                method,
                                body == null
                                        ? HttpRequest.BodyPublishers.noBody()
                                        : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) b.header("Content-Type", "application/json");
        if (headers.length > 0) b.headers(headers);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static String detail(HttpResponse<String> r) {
        return JSON.readTree(r.body()).get("detail").asString();
    }

    /** The status line and body of a raw request whose body arrives a byte every gapMillis. */
    static String trickle(String path, String body, long gapMillis) throws Exception {
        URI u = URI.create(url);
        try (Socket s = new Socket(u.getHost(), u.getPort())) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            byte[] b = body.getBytes(StandardCharsets.UTF_8);
            out.write(
                    ("POST "
                                    + path
                                    + " HTTP/1.1\r\n"
                                    + "Accept: application/json, text/event-stream\r\n"
                                    + "Host: x\r\n"
                                    + "Connection: close\r\n"
                                    + "X-API-Key: "
                                    + KEY
                                    + "\r\nContent-Type: application/json\r\nContent-Length: "
                                    + b.length
                                    + "\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            try {
                for (byte c : b) {
                    out.write(c);
                    out.flush();
                    Thread.sleep(gapMillis);
                    if (in.available() > 0) break; // answered before the body was in
                }
            } catch (IOException closed) { // the server answered and closed: read what it said
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void aBodyTricklingInPastTheDeadlineIs408() throws Exception {
        String body = ServiceTest.rows(expected.get("rows"));
        long t0 = System.nanoTime();
        String slow =
                assertTimeoutPreemptively(
                        Duration.ofSeconds(20), () -> trickle("/v1/churn/predict", body, 250));
        double took = (System.nanoTime() - t0) / 1e9;
        assertTrue(slow.startsWith("HTTP/1.1 408"), slow);
        assertTrue(slow.contains("{\"detail\":\"the body did not arrive within 1.5 s\"}"), slow);
        assertTrue(took < 15, "took " + took + " s");
        // the check can fail: the same body sent quickly (a byte every 0 ms) is scored
        String fast = trickle("/v1/churn/predict", body, 0);
        assertTrue(fast.startsWith("HTTP/1.1 200"), fast);
        // the MCP endpoint reads its body through the same bound
        String call = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{}}";
        String mcp =
                assertTimeoutPreemptively(Duration.ofSeconds(20), () -> trickle("/mcp", call, 250));
        assertTrue(mcp.startsWith("HTTP/1.1 408"), mcp);
        assertTrue(mcp.contains("{\"detail\":\"the body did not arrive within 1.5 s\"}"), mcp);
        assertTrue(trickle("/mcp", call, 0).startsWith("HTTP/1.1 200"));
    }

    @Test
    void theKeyAlsoComesAsAuthorizationBearer() throws Exception {
        String body = ServiceTest.rows(expected.get("rows"));
        String bearer = "Bearer " + KEY;
        assertEquals(
                200, send("GET", "/v1/churn/model", null, "Authorization", bearer).statusCode());
        HttpResponse<String> m = send("GET", "/metrics", null, "Authorization", bearer);
        assertEquals(200, m.statusCode());
        assertFalse(m.body().contains(KEY), "the key is in the metrics");
        assertEquals(
                200,
                send("POST", "/v1/churn/predict", body, "Authorization", "bearer " + KEY)
                        .statusCode());
        HttpResponse<String> mcp =
                send(
                        "POST",
                        "/mcp",
                        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}",
                        "Authorization",
                        bearer,
                        "Accept",
                        "application/json, text/event-stream");
        assertEquals(200, mcp.statusCode(), mcp.body());
        JsonNode ready =
                JSON.readTree(send("GET", "/readyz", null, "Authorization", bearer).body());
        assertTrue(ready.has("errors"), "a bearer key sees what /readyz shows a key: " + ready);
        // refusals: a wrong or empty bearer key, another scheme, two credentials
        for (String wrong : List.of("Bearer " + KEY + "x", "Bearer ", "Basic " + KEY, KEY)) {
            HttpResponse<String> r = send("GET", "/v1/churn/model", null, "Authorization", wrong);
            assertEquals(401, r.statusCode(), wrong);
            assertEquals("missing or invalid X-API-Key header", detail(r));
        }
        HttpResponse<String> both =
                send("GET", "/v1/churn/model", null, "Authorization", bearer, "X-API-Key", KEY);
        assertEquals(400, both.statusCode());
        assertEquals(SecurityConfig.TWO_KEYS, detail(both));
        HttpResponse<String> twice =
                send(
                        "GET",
                        "/v1/churn/model",
                        null,
                        "Authorization",
                        bearer,
                        "Authorization",
                        bearer);
        assertEquals(400, twice.statusCode());
        assertEquals(SecurityConfig.TWO_KEYS, detail(twice));
    }

    @Test
    void wrongBearerKeysAreRateLimited(@TempDir Path tmp) throws Exception {
        ConfigurableApplicationContext ctx = ServiceTest.start(models.resolve("model.onnx"), keys);
        String saved = url;
        try {
            url = ServiceTest.urlOf(ctx);
            for (int i = 0; i < 21; i++)
                assertEquals(
                        401,
                        send("GET", "/v1/churn/model", null, "Authorization", "Bearer wrong-" + i)
                                .statusCode());
            HttpResponse<String> r =
                    send("GET", "/v1/churn/model", null, "Authorization", "Bearer " + KEY);
            assertEquals(429, r.statusCode());
            assertEquals("too many wrong keys; try again later", detail(r));
        } finally {
            url = saved;
            ctx.close();
        }
    }

    /** A stand-in for a misbehaving upstream (MLflow cannot be made to misbehave). */
    static HttpServer upstream(com.sun.net.httpserver.HttpHandler h) throws IOException {
        HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        s.createContext("/", h);
        s.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
        s.start();
        return s;
    }

    @Test
    void mlflowAnswersAreBoundedInSizeAndTime() throws Exception {
        HttpServer endless =
                upstream(
                        x -> {
                            x.sendResponseHeaders(200, 0); // chunked, no Content-Length
                            byte[] b = new byte[1 << 16];
                            java.util.Arrays.fill(b, (byte) ' ');
                            try (OutputStream o = x.getResponseBody()) {
                                while (true) o.write(b);
                            } catch (IOException closed) {
                            }
                        });
        HttpServer slow =
                upstream(
                        x -> {
                            x.sendResponseHeaders(200, 0);
                            try (OutputStream o = x.getResponseBody()) {
                                o.write('{');
                                o.flush();
                                for (int i = 0; i < 200; i++) {
                                    Thread.sleep(100);
                                    o.write(' ');
                                    o.flush();
                                }
                                o.write('}');
                            } catch (IOException | InterruptedException closed) {
                            }
                        });
        HttpServer good =
                upstream(
                        x -> {
                            byte[] b = "{\"files\": []}".getBytes(StandardCharsets.UTF_8);
                            x.sendResponseHeaders(200, b.length);
                            try (OutputStream o = x.getResponseBody()) {
                                o.write(b);
                            }
                        });
        Duration saved = ModelSource.Mlflow.jsonDeadline;
        ModelSource.Mlflow.jsonDeadline = Duration.ofSeconds(2);
        try {
            String e = "http://127.0.0.1:" + endless.getAddress().getPort();
            ServeException big =
                    assertTimeoutPreemptively(
                            Duration.ofSeconds(20),
                            () ->
                                    assertThrows(
                                            ServeException.class,
                                            () -> ModelSource.Mlflow.get(e + "/api", e)));
            assertTrue(
                    big.getMessage().endsWith("answer larger than 1048576 bytes"),
                    big.getMessage());
            String s = "http://127.0.0.1:" + slow.getAddress().getPort();
            long t0 = System.nanoTime();
            ServeException late =
                    assertTimeoutPreemptively(
                            Duration.ofSeconds(15),
                            () ->
                                    assertThrows(
                                            ServeException.class,
                                            () -> ModelSource.Mlflow.get(s + "/api", s)));
            assertTrue(
                    late.getMessage().contains("no complete answer within 2 s"), late.getMessage());
            assertTrue((System.nanoTime() - t0) / 1e9 < 10);
            // the check can fail: a small answer in time is read
            String g = "http://127.0.0.1:" + good.getAddress().getPort();
            assertEquals(0, ModelSource.Mlflow.get(g + "/api", g).get("files").size());
        } finally {
            ModelSource.Mlflow.jsonDeadline = saved;
            endless.stop(0);
            slow.stop(0);
            good.stop(0);
        }
    }

    @Test
    void aBadFileIsTriedOnceUntilItChangesAndDownloadsAreDeleted(@TempDir Path tmp)
            throws Exception {
        Path model = tmp.resolve("model.onnx");
        Files.copy(models.resolve("model.onnx"), model);
        ModelSource src = new ModelSource(model.toString(), null, 1);
        try {
            Files.writeString(model, "not a model");
            for (int i = 0; i < 5; i++) assertFalse(src.refresh());
            assertEquals(1, src.failures(), "the same bad file was loaded again");
            assertTrue(src.error().contains("not a loadable ONNX model"), src.error());
            Files.writeString(model, "not a model either"); // the check can fail: a change is tried
            assertFalse(src.refresh());
            assertEquals(2, src.failures());
            Files.copy(
                    models.resolve("other.onnx"),
                    model,
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            assertTrue(src.refresh());
            assertEquals(null, src.error());
        } finally {
            src.close();
        }
        // a downloaded version's folder goes with its session
        Path dir = Files.createTempDirectory(tmp, "churn-model-");
        Path onnx = dir.resolve("model.onnx");
        Files.copy(models.resolve("model.onnx"), onnx);
        ModelSource.Loaded l =
                new ModelSource.Loaded(
                        ChurnModel.load(onnx.toString(), 1), JSON.createObjectNode(), dir);
        assertTrue(Files.isDirectory(dir));
        l.release();
        assertFalse(Files.exists(dir));
    }

    static String[] runOut(String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = ChurnApplication.run(args, new PrintStream(err, true, StandardCharsets.UTF_8));
        return new String[] {String.valueOf(status), err.toString(StandardCharsets.UTF_8)};
    }

    @Test
    void flagsOutOfRangeAndStartFailuresAreOneLineExit2() throws Exception {
        String m = models.resolve("model.onnx").toString(), k = keys.toString();
        Map<List<String>, String> cases =
                Map.of(
                        List.of("--max-rows", "0"),
                                "--max-rows: expected an integer from 1 to 1000000, got 0",
                        List.of("--max-rows", "1e12"),
                                "--max-rows: expected an integer from 1 to 1000000, got '1e12'",
                        List.of("--max-body-mb", "-1"),
                                "--max-body-mb: expected a number from 0.001 to 1024, got -1",
                        List.of("--poll-every", "NaN"),
                                "--poll-every: expected a number from 0.01 to 3600, got NaN",
                        List.of("--poll-every", "1e12"),
                                "--poll-every: expected a number from 0.01 to 3600, got 1e12",
                        List.of("--body-timeout", "0"),
                                "--body-timeout: expected a number from 0.01 to 3600, got 0",
                        List.of("--port", "70000"),
                                "--port: expected an integer from 0 to 65535, got 70000",
                        List.of("--nope", "1"),
                                "unknown argument --nope; usage: churn-java --model");
        for (var c : cases.entrySet()) {
            List<String> args =
                    new java.util.ArrayList<>(List.of("--model", m, "--api-keys-file", k));
            args.addAll(c.getKey());
            String[] r = runOut(args.toArray(String[]::new));
            assertEquals("2", r[0], c.getKey().toString());
            assertTrue(r[1].startsWith("churn-java: error: " + c.getValue()), r[1]);
            assertEquals(1, r[1].strip().lines().count(), r[1]);
        }
        try (ServerSocket busy =
                new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            String port = String.valueOf(busy.getLocalPort());
            String[] r =
                    runOut(
                            "--model",
                            m,
                            "--api-keys-file",
                            k,
                            "--host",
                            "127.0.0.1",
                            "--port",
                            port);
            assertEquals("2", r[0]);
            assertEquals(
                    "churn-java: error: cannot start: Port " + port + " is already in use",
                    r[1].strip());
        }
        // the check can fail: in range, it starts (and is stopped)
        ConfigurableApplicationContext ok =
                ChurnApplication.start(
                        "--model",
                        m,
                        "--api-keys-file",
                        k,
                        "--port",
                        "0",
                        "--max-rows",
                        "1",
                        "--poll-every",
                        "3600",
                        "--max-body-mb",
                        "0.5",
                        "--body-timeout",
                        "0.5");
        ok.close();
    }
}
