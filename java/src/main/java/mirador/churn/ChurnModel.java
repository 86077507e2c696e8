package mirador.churn;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Churn probabilities from an exported ONNX file, checked as mirador_churn.scoring.ChurnScorer.load
 * checks it.
 */
public final class ChurnModel implements AutoCloseable {
    public static final String CONTRACT_VERSION = "1";
    public static final String CONTRACT =
            "input features: float32 [batch, 8], raw values in the order of `features`; "
                    + "output churn_probability: float32 [batch]";
    static final double[] PROBE_VALUES = {0, 0.5, 1, 2, 5, 10, 30, 100, 1e3, 1e4, 1e5, 1e6};
    private static final OrtEnvironment ENV =
            OrtEnvironment.getEnvironment(OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, "churn");
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Set<String> OUT = Set.of("churn_probability");

    private final OrtSession session;
    public final List<String> features;
    public final Map<String, String> metadata;
    public final String path;

    private ChurnModel(
            OrtSession session, List<String> features, Map<String, String> metadata, String path) {
        this.session = session;
        this.features = features;
        this.metadata = metadata;
        this.path = path;
    }

    /**
     * Open the model at path and check the contract and, on a probe batch, that it returns
     * probabilities.
     */
    public static ChurnModel load(String path, int threads) {
        if (!Files.isRegularFile(Path.of(path))) throw new ServeException(path + ": no such file");
        OrtSession s = session(path, threads);
        try {
            Map<String, String> meta = new TreeMap<>(s.getMetadata().getCustomMetadata());
            List<String> names = checkMetadata(path, meta);
            checkGraph(path, s, names.size());
            float[] probe = new float[PROBE_VALUES.length * names.size()];
            for (int i = 0; i < PROBE_VALUES.length; i++)
                for (int j = 0; j < names.size(); j++)
                    probe[i * names.size() + j] = (float) PROBE_VALUES[i];
            ChurnModel m = new ChurnModel(s, names, meta, path);
            m.predict(probe, PROBE_VALUES.length);
            return m;
        } catch (OrtException e) {
            close(s);
            throw new ServeException(
                    path
                            + ": not a loadable ONNX model (OrtException: "
                            + firstLine(e.getMessage())
                            + ")");
        } catch (RuntimeException e) {
            close(s);
            throw e;
        }
    }

    private static OrtSession session(String path, int threads) {
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setIntraOpNumThreads(threads);
            o.setInterOpNumThreads(1);
            o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            o.setSessionLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR);
            return ENV.createSession(path, o);
        } catch (OrtException e) {
            throw new ServeException(
                    path
                            + ": not a loadable ONNX model (OrtException: "
                            + firstLine(e.getMessage())
                            + ")");
        }
    }

    static String firstLine(String s) {
        if (s == null || s.isEmpty()) return "";
        String l = s.lines().findFirst().orElse("");
        return l.length() > 200 ? l.substring(0, 200) : l;
    }

    /**
     * The feature names of a file that declares this contract, else a ServeException saying what is
     * wrong.
     */
    static List<String> checkMetadata(String path, Map<String, String> meta) {
        List<String> names = new ArrayList<>();
        try {
            JsonNode f = JSON.readTree(meta.get("features"));
            if (f == null || !f.isArray()) throw new IllegalArgumentException();
            for (JsonNode n : f) names.add(n.isString() ? n.stringValue() : null);
        } catch (RuntimeException e) {
            throw new ServeException(path + ": no `features` list in the model metadata");
        }
        if (!meta.containsKey("contract"))
            throw new ServeException(
                    path
                            + ": no `contract` in the model metadata: not a file written by"
                            + " export_onnx");
        String version = meta.getOrDefault("contract_version", CONTRACT_VERSION);
        if (!version.equals(CONTRACT_VERSION))
            throw new ServeException(
                    path
                            + ": written for contract version "
                            + version
                            + "; this scorer reads version "
                            + CONTRACT_VERSION);
        if (!meta.get("contract").equals(CONTRACT))
            throw new ServeException(
                    path + ": the metadata `contract` differs from this scorer's: " + CONTRACT);
        if (names.contains(null) || new HashSet<>(names).size() != names.size())
            throw new ServeException(
                    path + ": the `features` list must be distinct names, got " + names);
        return List.copyOf(names);
    }

    /**
     * A ServeException unless the graph takes features float [batch, n] and returns
     * churn_probability float [batch].
     */
    static void checkGraph(String path, OrtSession s, int n) throws OrtException {
        Map<String, NodeInfo> ins = s.getInputInfo(), outs = s.getOutputInfo();
        NodeInfo in = ins.get("features"), out = outs.get("churn_probability");
        boolean ok =
                ins.size() == 1
                        && in != null
                        && in.getInfo() instanceof TensorInfo ti
                        && ti.type == OnnxJavaType.FLOAT
                        && ti.getShape().length == 2
                        && ti.getShape()[1] == n
                        && ti.getShape()[0] < 0
                        && out != null
                        && out.getInfo() instanceof TensorInfo to
                        && to.type == OnnxJavaType.FLOAT
                        && to.getShape().length == 1
                        && to.getShape()[0] < 0;
        if (!ok)
            throw new ServeException(
                    path
                            + ": inputs "
                            + ins.values()
                            + " and outputs "
                            + outs.values()
                            + " do not match the contract (input `features` float [batch, "
                            + n
                            + "]; output `churn_probability` float [batch])");
    }

    /**
     * The churn probability of each of the n rows of x (row-major, n * features), checked to be in
     * [0, 1].
     */
    public float[] predict(float[] x, int n) throws OrtException {
        for (float v : x)
            if (!Float.isFinite(v))
                throw new RequestException(
                        "NaN or infinite feature values (beyond 3.4e38, float32's range, is"
                            + " infinite)");
        try (OnnxTensor t =
                        OnnxTensor.createTensor(
                                ENV, FloatBuffer.wrap(x), new long[] {n, features.size()});
                OrtSession.Result r = session.run(Map.of("features", t), OUT)) {
            OnnxTensor o = (OnnxTensor) r.get(0);
            long[] shape = o.getInfo().getShape();
            if (o.getInfo().type != OnnxJavaType.FLOAT || shape.length != 1 || shape[0] != n)
                throw new ServeException(
                        path
                                + ": `churn_probability` is "
                                + o.getInfo()
                                + ", expected float32 ["
                                + n
                                + "]");
            FloatBuffer b = o.getFloatBuffer();
            float[] p = new float[n];
            b.get(p);
            int bad = 0, first = -1;
            for (int i = 0; i < n; i++)
                if (!(p[i] >= 0 && p[i] <= 1)) {
                    bad++;
                    if (first < 0) first = i;
                }
            if (bad > 0)
                throw new ServeException(
                        path
                                + ": `churn_probability` is outside [0, 1] in "
                                + bad
                                + " row"
                                + (bad > 1 ? "s" : "")
                                + " (e.g. row "
                                + first
                                + ": "
                                + p[first]
                                + "): not probabilities, not a churn model's output");
            return p;
        }
    }

    /**
     * The model's metadata value for key, a JSON object or list decoded, anything else the text it
     * is.
     */
    public JsonNode decoded(String key) {
        String v = metadata.get(key);
        if (v == null) return null;
        if (v.startsWith("{") || v.startsWith("[")) {
            try {
                return JSON.readTree(v);
            } catch (RuntimeException e) {
                /* text, as the Python side keeps it */
            }
        }
        return JSON.getNodeFactory().stringNode(v);
    }

    @Override
    public void close() {
        close(session);
    }

    private static void close(OrtSession s) {
        try {
            s.close();
        } catch (OrtException e) {
            /* closing a session that failed its checks */
        }
    }
}
