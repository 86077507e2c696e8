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
                + " 8] [--poll-every 1.0] [--body-timeout 30]";
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
                    "churn.poll-every",
                    "--body-timeout",
                    "churn.body-timeout");

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
            if (p == null) throw new ServeException("unknown argument " + a + "; " + USAGE);
            if (v == null) {
                if (i + 1 >= args.length) throw new ServeException(a + " needs a value; " + USAGE);
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
        int maxRows = (int) number(props, "--max-rows", "10000", 1, 1_000_000, true);
        long maxBody = (long) (number(props, "--max-body-mb", "8", 0.001, 1024, false) * (1 << 20));
        long every = (long) (number(props, "--poll-every", "1.0", 0.01, 3600, false) * 1000);
        double bodyTimeout = number(props, "--body-timeout", "30", 0.01, 3600, false);
        number(props, "--port", "8000", 0, 65535, true);
        ChurnState state =
                new ChurnState(
                        model,
                        props.get("churn.tracking-uri"),
                        keysFile == null ? null : Path.of(keysFile),
                        System.getenv("MIRADOR_API_KEYS"),
                        maxRows,
                        maxBody,
                        bodyTimeout);
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
        state.startWatching(every);
        log.info(
                "serving model {} from {} with {} API key{}",
                state.model.current().version(),
                state.model.current().info().get("source").asString(),
                state.keys().size(),
                state.keys().size() != 1 ? "s" : "");
        return ctx;
    }

    /**
     * The value of flag (its property in props, else dflt) as a finite number in [min, max] (an
     * integer if whole), or a ServeException naming the flag and the value.
     */
    static double number(
            Map<String, String> props,
            String flag,
            String dflt,
            double min,
            double max,
            boolean whole) {
        String v = props.getOrDefault(FLAGS.get(flag), dflt).strip();
        String want =
                (whole ? "an integer" : "a number") + " from " + Py.g(min) + " to " + Py.g(max);
        double x;
        try {
            x = whole ? Long.parseLong(v) : Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new ServeException(flag + ": expected " + want + ", got " + Py.repr(v));
        }
        if (!(x >= min && x <= max)) // NaN fails both
        throw new ServeException(flag + ": expected " + want + ", got " + v);
        return x;
    }

    /**
     * Start the service as the command line says; 0, or 2 after one line on err (a refused
     * argument, model or key file, or a server that cannot start, such as a port in use).
     */
    static int run(String[] args, java.io.PrintStream err) {
        try {
            start(args);
            return 0;
        } catch (ServeException e) {
            err.println("churn-java: error: " + e.getMessage());
        } catch (RuntimeException e) {
            err.println("churn-java: error: cannot start: " + startFailure(e));
        }
        return 2;
    }

    /** Why Spring could not start, in one line: a port in use says so, else the deepest cause. */
    static String startFailure(Throwable e) {
        Throwable root = e;
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c.getClass().getSimpleName().equals("PortInUseException"))
                return ChurnModel.firstLine(c.getMessage());
            if (c instanceof ServeException) return ChurnModel.firstLine(c.getMessage());
            root = c;
        }
        String m = root.getMessage();
        return root.getClass().getSimpleName() + (m == null ? "" : ": " + ChurnModel.firstLine(m));
    }

    public static void main(String[] args) {
        int status = run(args, System.err);
        if (status != 0) System.exit(status);
    }

    @Bean
    public FilterRegistrationBean<GuardFilter> guard(ChurnMetrics metrics, ChurnState state) {
        FilterRegistrationBean<GuardFilter> r =
                new FilterRegistrationBean<>(
                        new GuardFilter(metrics, state.maxBodyBytes, state.bodyTimeout));
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
