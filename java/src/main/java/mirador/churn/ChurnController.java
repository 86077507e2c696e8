package mirador.churn;

import ai.onnxruntime.OrtException;

import jakarta.servlet.http.HttpServletRequest;

import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RestController;

import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.exc.StreamConstraintsException;
import tools.jackson.core.json.JsonReadFeature;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The REST routes of the service: predict, model, healthz, readyz (metrics is the actuator's
 * Prometheus endpoint at /metrics).
 */
@RestController
public class ChurnController {
    /**
     * JSON as Python's json module reads it: NaN and Infinity accepted (then refused as not
     * finite), nothing after the value.
     */
    static final JsonMapper JSON =
            JsonMapper.builder()
                    .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
                    .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                    .build();

    private final ChurnState state;
    private final ChurnMetrics metrics;

    public ChurnController(ChurnState state, ChurnMetrics metrics) {
        this.state = state;
        this.metrics = metrics;
    }

    /**
     * Churn probabilities of rows with the model now served, and its version (the version that
     * scored).
     */
    static Map<String, Object> predictRows(
            ChurnState state, ChurnMetrics metrics, JsonNode rows, String iface)
            throws OrtException {
        ModelSource.Loaded m =
                state.model.current(); // one reference: the version reported is the version that
        // scored
        List<String> names = m.model().features;
        float[] x = Rows.matrix(rows, names, state.maxRows);
        float[] p = m.model().predict(x, x.length / names.size());
        metrics.scored(p, iface);
        double[] wide = new double[p.length];
        for (int i = 0; i < p.length; i++)
            wide[i] = p[i]; // a float32 widened to a double: the JSON number is exact
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("model_version", m.version());
        out.put("probabilities", wide);
        return out;
    }

    @PostMapping("/v1/churn/predict")
    public ResponseEntity<String> predict(HttpServletRequest request)
            throws IOException, OrtException {
        byte[] body = readBody(request.getInputStream(), state.maxBodyBytes);
        JsonNode doc = parse(body);
        if (doc == null || doc.isMissingNode())
            throw new RequestException("the body is not JSON: no value");
        if (!doc.isObject() || !doc.has("rows")) throw new RequestException(Rows.SHAPE);
        return json(200, predictRows(state, metrics, doc.get("rows"), "rest"));
    }

    @GetMapping("/v1/churn/model")
    public ResponseEntity<String> model() {
        return json(200, state.model.current().info());
    }

    @GetMapping("/healthz")
    public ResponseEntity<String> healthz() {
        return json(200, Map.of("status", "ok"));
    }

    /**
     * Ready (200) when no source is stale, else 503; the names of stale sources for anyone, the
     * errors only with a key.
     */
    @GetMapping("/readyz")
    public ResponseEntity<String> readyz(HttpServletRequest request) {
        Map<String, String> stale = new java.util.TreeMap<>();
        state.stale().forEach((k, v) -> stale.put(k, Redact.redact(v)));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("status", stale.isEmpty() ? "ready" : "stale");
        out.put("stale", List.copyOf(stale.keySet()));
        List<String> keys = SecurityConfig.credentials(request);
        if (keys.size() == 1 && state.keys().valid(keys.get(0))) {
            out.put("model_version", state.model.current().version());
            out.put("errors", stale);
        }
        return json(stale.isEmpty() ? 200 : 503, out);
    }

    @ExceptionHandler(RequestException.class)
    public ResponseEntity<String> refused(RequestException e) {
        return json(e.status, Map.of("detail", e.getMessage()));
    }

    /**
     * The body as JSON the way churn_serve reads it: NaN and Infinity refused by name, too deep a
     * nesting named as such.
     */
    static JsonNode parse(byte[] body) {
        try {
            if (hasConstantLetters(body)) {
                try (JsonParser p = JSON.createParser(body)) {
                    for (JsonToken t; (t = p.nextToken()) != null; )
                        if (t == JsonToken.VALUE_NUMBER_FLOAT
                                && p.getString().matches("-?(NaN|Infinity)"))
                            throw new RequestException(
                                    "the body is not JSON: "
                                            + p.getString()
                                            + " is not a JSON number");
                }
            }
            return JSON.readTree(body);
        } catch (StreamConstraintsException e) {
            if (String.valueOf(e.getMessage()).contains("depth"))
                throw new RequestException(
                        "the body nests arrays or objects too deeply to be a prediction request");
            throw new RequestException(
                    "the body is not JSON: "
                            + Py.head(ChurnModel.firstLine(e.getOriginalMessage()), 200));
        } catch (JacksonException e) {
            throw new RequestException(
                    "the body is not JSON: "
                            + Py.head(ChurnModel.firstLine(e.getOriginalMessage()), 200));
        }
    }

    /**
     * Could the body hold NaN or Infinity outside a string? (the letters N or I: feature names are
     * lower case)
     */
    private static boolean hasConstantLetters(byte[] b) {
        for (byte c : b) if (c == 'N' || c == 'I') return true;
        return false;
    }

    /** The request body, or a 413 as soon as it passes limit bytes. */
    static byte[] readBody(InputStream in, long limit) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[1 << 16];
        for (int n; (n = in.read(buf)) > 0; ) {
            if (out.size() + (long) n > limit)
                throw new RequestException(
                        "body larger than the limit of " + Py.thousands(limit) + " bytes", 413);
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }

    static ResponseEntity<String> json(int status, Object body) {
        return ResponseEntity.status(status)
                .contentType(MediaType.APPLICATION_JSON)
                .body(JSON.writeValueAsString(body));
    }
}
