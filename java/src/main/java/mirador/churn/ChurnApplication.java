package mirador.churn;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.web.server.context.WebServerInitializedEvent;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.ApplicationListener;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.event.ContextClosedEvent;
import org.springframework.core.Ordered;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * churn-java: the churn model over HTTP (REST and MCP, behind API keys), the same contract as
 * churn_serve.
 */
@SpringBootApplication
public class ChurnApplication {
    private static final Logger log = LoggerFactory.getLogger(ChurnApplication.class);
    static final String USAGE =
            "usage: churn-java --model MODEL.onnx|promotion.json [--api-keys-file FILE] [--host"
                + " 127.0.0.1] [--port 8000] [--tracking-uri URL] [--max-rows 10000] [--max-body-mb"
                + " 8] [--poll-every 1.0]";
    static final Map<String, String> FLAGS =
            Map.of(
                    "--model",
                    "churn.model",
                    "--api-keys-file",
                    "churn.api-keys-file",
                    "--host",
                    "server.address",
                    "--port",
                    "server.port",
                    "--tracking-uri",
                    "churn.tracking-uri",
                    "--max-rows",
                    "churn.max-rows",
                    "--max-body-mb",
                    "churn.max-body-mb",
                    "--poll-every",
                    "churn.poll-every");

    /**
     * The command line as Spring properties: --model X becomes --churn.model=X; a bad flag exits 2
     * with the usage.
     */
    static List<String> springArgs(String[] args) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i], v = null;
            if (a.contains("=")) {
                v = a.substring(a.indexOf('=') + 1);
                a = a.substring(0, a.indexOf('='));
            }
            String p = FLAGS.get(a.replace('_', '-'));
            if (p == null) throw new ServeException("unknown argument " + a + "\n" + USAGE);
            if (v == null) {
                if (i + 1 >= args.length) throw new ServeException(a + " needs a value\n" + USAGE);
                v = args[++i];
            }
            out.add("--" + p + "=" + v);
        }
        return out;
    }

    public static ConfigurableApplicationContext start(String... args) {
        List<String> spring = springArgs(args);
        Map<String, String> props = new java.util.HashMap<>();
        for (String s : spring)
            props.put(s.substring(2, s.indexOf('=')), s.substring(s.indexOf('=') + 1));
        String model = props.getOrDefault("churn.model", "outputs/model.onnx");
        String keysFile = props.get("churn.api-keys-file");
        int maxRows = Integer.parseInt(props.getOrDefault("churn.max-rows", "10000"));
        long maxBody =
                (long)
                        (Double.parseDouble(props.getOrDefault("churn.max-body-mb", "8"))
                                * (1 << 20));
        ChurnState state =
                new ChurnState(
                        model,
                        props.get("churn.tracking-uri"),
                        keysFile == null ? null : Path.of(keysFile),
                        System.getenv("MIRADOR_API_KEYS"),
                        maxRows,
                        maxBody);
        SpringApplication app = new SpringApplication(ChurnApplication.class);
        app.addInitializers(ctx -> ctx.getBeanFactory().registerSingleton("churnState", state));
        ConfigurableApplicationContext ctx;
        try {
            ctx = app.run(spring.toArray(String[]::new));
        } catch (RuntimeException e) {
            state.close();
            throw e;
        }
        ctx.addApplicationListener((ApplicationListener<ContextClosedEvent>) e -> state.close());
        long every =
                (long) (Double.parseDouble(props.getOrDefault("churn.poll-every", "1.0")) * 1000);
        state.startWatching(Math.max(every, 10));
        log.info(
                "serving model {} from {} with {} API key{}",
                state.model.current().version(),
                state.model.current().info().get("source").asString(),
                state.keys().size(),
                state.keys().size() != 1 ? "s" : "");
        return ctx;
    }

    public static void main(String[] args) {
        try {
            start(args);
        } catch (ServeException e) {
            System.err.println("churn-java: error: " + e.getMessage());
            System.exit(2);
        } catch (NumberFormatException e) {
            System.err.println("churn-java: error: not a number: " + e.getMessage() + "\n" + USAGE);
            System.exit(2);
        }
    }

    @Bean
    public FilterRegistrationBean<GuardFilter> guard(ChurnMetrics metrics, ChurnState state) {
        FilterRegistrationBean<GuardFilter> r =
                new FilterRegistrationBean<>(new GuardFilter(metrics, state.maxBodyBytes));
        r.setOrder(Ordered.HIGHEST_PRECEDENCE);
        return r;
    }

    /** Say where it listens, in one line a supervisor (or a test) can read. */
    @Bean
    public ApplicationListener<WebServerInitializedEvent> announce() {
        return e ->
                log.info(
                        "churn-java running on http://{}:{}",
                        e.getApplicationContext()
                                .getEnvironment()
                                .getProperty("server.address", "127.0.0.1"),
                        e.getWebServer().getPort());
    }
}
