package mirador.churn;

import ai.onnxruntime.OrtException;
import jakarta.servlet.http.HttpServletRequest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RestController;
import tools.jackson.core.JacksonException;
import tools.jackson.core.json.JsonReadFeature;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The REST routes of the service: predict, model, healthz, readyz (metrics is the actuator's Prometheus endpoint at /metrics). */
@RestController
public class ChurnController {
    /** JSON as Python's json module reads it: NaN and Infinity accepted (then refused as not finite), nothing after the value. */
    static final JsonMapper JSON = JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).build();
    private final ChurnState state;
    private final ChurnMetrics metrics;

    public ChurnController(ChurnState state, ChurnMetrics metrics) { this.state = state; this.metrics = metrics; }

    /** Churn probabilities of rows with the model now served, and its version (the version that scored). */
    static Map<String, Object> predictRows(ChurnState state, ChurnMetrics metrics, JsonNode rows, String iface) throws OrtException {
        ModelSource.Loaded m = state.model.current();   // one reference: the version reported is the version that scored
        List<String> names = m.model().features;
        float[] x = Rows.matrix(rows, names, state.maxRows);
        float[] p = m.model().predict(x, x.length / names.size());
        metrics.scored(p, iface);
        double[] wide = new double[p.length];
        for (int i = 0; i < p.length; i++) wide[i] = p[i];   // a float32 widened to a double: the JSON number is exact
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("model_version", m.version());
        out.put("probabilities", wide);
        return out;
    }

    @PostMapping("/v1/churn/predict")
    public ResponseEntity<String> predict(HttpServletRequest request) throws IOException, OrtException {
        byte[] body = readBody(request.getInputStream(), state.maxBodyBytes);
        JsonNode doc;
        try {
            doc = JSON.readTree(body);
        } catch (JacksonException e) {
            throw new RequestException("the body is not JSON: " + ChurnModel.firstLine(e.getOriginalMessage()));
        }
        if (doc == null || doc.isMissingNode()) throw new RequestException("the body is not JSON: no value");
        if (!doc.isObject() || !doc.has("rows")) throw new RequestException(Rows.SHAPE);
        return json(200, predictRows(state, metrics, doc.get("rows"), "rest"));
    }

    @GetMapping("/v1/churn/model")
    public ResponseEntity<String> model() { return json(200, state.model.current().info()); }

    @GetMapping("/healthz")
    public ResponseEntity<String> healthz() { return json(200, Map.of("status", "ok")); }

    @GetMapping("/readyz")
    public ResponseEntity<String> readyz() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("status", "ready");
        out.put("model_version", state.model.current().version());
        out.put("stale", state.stale());
        return json(200, out);
    }

    @ExceptionHandler(RequestException.class)
    public ResponseEntity<String> refused(RequestException e) { return json(e.status, Map.of("detail", e.getMessage())); }

    /** The request body, or a 413 as soon as it passes limit bytes. */
    static byte[] readBody(InputStream in, long limit) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[1 << 16];
        for (int n; (n = in.read(buf)) > 0; ) {
            if (out.size() + (long) n > limit)
                throw new RequestException("body larger than the limit of " + Py.thousands(limit) + " bytes", 413);
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }

    static ResponseEntity<String> json(int status, Object body) {
        return ResponseEntity.status(status).contentType(MediaType.APPLICATION_JSON).body(JSON.writeValueAsString(body));
    }
}
