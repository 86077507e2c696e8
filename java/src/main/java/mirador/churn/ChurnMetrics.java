package mirador.churn;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import org.springframework.stereotype.Component;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;

/** The service's Prometheus metrics, under the names churn_serve gives them. */
@Component
public class ChurnMetrics {
    static final double[] PROBABILITY_BOUNDS = new double[19];
    static final Duration[] LATENCY_BOUNDS = {
        ms(0.5), ms(1), ms(2.5), ms(5), ms(10), ms(25), ms(50), ms(100), ms(250), ms(500), ms(1000),
        ms(2500)
    };

    static {
        for (int i = 0; i < 19; i++) PROBABILITY_BOUNDS[i] = Math.round((i + 1) * 5) / 100.0;
    }

    private final MeterRegistry registry;
    private final DistributionSummary probabilities;
    private final ConcurrentHashMap<String, Counter> rows = new ConcurrentHashMap<>();
    private final AtomicReference<String> version = new AtomicReference<>();

    public ChurnMetrics(MeterRegistry registry, ChurnState state) {
        this.registry = registry;
        probabilities =
                DistributionSummary.builder("churn.served.probability")
                        .description(
                                "Churn probabilities served by /v1/churn/predict and predict_churn")
                        .serviceLevelObjectives(PROBABILITY_BOUNDS)
                        .register(registry);
        for (String source : state.loads().keySet())
            Gauge.builder("churn.source.loads", state, s -> s.loads().get(source))
                    .tag("source", source)
                    .description("Loads of each source since start (1 = the initial load)")
                    .register(registry);
        for (String source : state.failures().keySet())
            FunctionCounter.builder(
                            "churn.source.reload.failures", state, s -> s.failures().get(source))
                    .tag("source", source)
                    .description("Failed reloads of each source since start")
                    .register(registry);
        model(state.model.current().version());
    }

    private static Duration ms(double m) {
        return Duration.ofNanos((long) (m * 1e6));
    }

    /** Count the probabilities p, scored through interface (rest or mcp). */
    public void scored(float[] p, String iface) {
        for (float v : p) probabilities.record(v);
        rows.computeIfAbsent(
                        iface,
                        i ->
                                Counter.builder("churn.scored.rows")
                                        .description("Feature rows scored")
                                        .tag("interface", i)
                                        .register(registry))
                .increment(p.length);
    }

    /** The model served now: churn_model_info{model_version} 1, and no series for the old one. */
    public void model(String v) {
        String old = version.getAndSet(v);
        if (Objects.equals(old, v) && old != null) return;
        if (old != null)
            registry.find("churn.model.info")
                    .tag("model_version", old)
                    .meters()
                    .forEach(registry::remove);
        Gauge.builder("churn.model.info", () -> 1)
                .tag("model_version", String.valueOf(v))
                .description("The model served (1 for the current version)")
                .register(registry);
    }

    /** One HTTP request: its route template, method, status and duration. */
    public void request(String route, String method, int status, long nanos) {
        String code = String.valueOf(status);
        registry.counter("churn.http.requests", "route", route, "method", method, "status", code)
                .increment();
        Timer.builder("churn.http.request.duration")
                .description("Time to answer an HTTP request")
                .tags("route", route, "status", code)
                .serviceLevelObjectives(LATENCY_BOUNDS)
                .register(registry)
                .record(Duration.ofNanos(nanos));
    }
}
