package mirador.churn;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import jakarta.servlet.http.HttpServletResponse;

import org.springframework.web.filter.OncePerRequestFilter;
import org.springframework.web.util.ContentCachingResponseWrapper;

import java.io.IOException;
import java.util.Locale;
import java.util.Set;

/**
 * Outermost filter: times every request (Server-Timing: app;dur=ms), counts it by route and status,
 * bounds the body as it is read.
 */
public class GuardFilter extends OncePerRequestFilter {
    static final Set<String> ROUTES =
            Set.of(
                    "/v1/churn/predict",
                    "/v1/churn/model",
                    "/healthz",
                    "/readyz",
                    "/metrics",
                    "/mcp");
    private final ChurnMetrics metrics;
    private final long maxBody;
    private final double bodyTimeout;

    public GuardFilter(ChurnMetrics metrics, long maxBody, double bodyTimeout) {
        this.metrics = metrics;
        this.maxBody = maxBody;
        this.bodyTimeout = bodyTimeout;
    }

    @Override
    protected void doFilterInternal(
            HttpServletRequest req, HttpServletResponse res, FilterChain chain)
            throws ServletException, IOException {
        long t0 = System.nanoTime();
        ContentCachingResponseWrapper out = new ContentCachingResponseWrapper(res);
        Bounded body = new Bounded(req, maxBody, t0, bodyTimeout);
        try {
            chain.doFilter(body, out);
        } finally {
            long dt = System.nanoTime() - t0;
            if (out.getStatus() == 500 && body.refused != null && !res.isCommitted()) {
                // a transport (MCP) that turned the body's 408 or 413 into a 500: answer what it
                // was
                out.resetBuffer();
                out.setStatus(body.refused.status);
                out.setHeader("Connection", "close");
                out.setContentType("application/json");
                out.getOutputStream()
                        .write(
                                ChurnController.JSON.writeValueAsBytes(
                                        java.util.Map.of("detail", body.refused.getMessage())));
            } else if (out.getStatus() == 500
                    && req.getRequestURI().equals("/mcp")
                    && !res.isCommitted()) { // the transport's error body serialises its exception
                out.resetBuffer();
                out.setContentType("application/json");
                out.getOutputStream()
                        .write(
                                "{\"detail\":\"Internal Server Error\"}"
                                        .getBytes(java.nio.charset.StandardCharsets.UTF_8));
            }
            if (!res.isCommitted()) {
                if (!out.containsHeader("Cache-Control"))
                    res.setHeader("Cache-Control", "no-store");
                res.setHeader("X-Content-Type-Options", "nosniff");
                res.setHeader(
                        "Server-Timing", String.format(Locale.ROOT, "app;dur=%.3f", dt / 1e6));
            }
            out.copyBodyToResponse();
            String route = ROUTES.contains(req.getRequestURI()) ? req.getRequestURI() : "unmatched";
            metrics.request(route, req.getMethod(), out.getStatus(), dt);
        }
    }

    /**
     * A request whose body stream fails once it passes limit bytes, whatever the Content-Length
     * said (chunked bodies too), and with 408 once the whole body is not in by the deadline
     * (Tomcat's connection-timeout bounds each read only: a byte every 9 s would pass it).
     */
    static final class Bounded extends HttpServletRequestWrapper {
        private final long limit, deadline;
        private final double timeout;
        private ServletInputStream in;
        volatile RequestException refused; // the refusal the body's stream threw, if any

        Bounded(HttpServletRequest r, long limit, long startNanos, double timeout) {
            super(r);
            this.limit = limit;
            this.timeout = timeout;
            this.deadline = startNanos + (long) (timeout * 1e9);
        }

        private void inTime() {
            if (System.nanoTime() - deadline > 0)
                throw refused =
                        new RequestException(
                                "the body did not arrive within " + Py.g(timeout) + " s", 408);
        }

        @Override
        public ServletInputStream getInputStream() throws IOException {
            if (in != null) return in;
            ServletInputStream raw = super.getInputStream();
            return in =
                    new ServletInputStream() {
                        long seen;

                        private int count(int n) throws IOException {
                            if (n >= 0) inTime(); // a byte that came late: the body is too slow
                            if (n > 0 && (seen += n) > limit)
                                throw refused =
                                        new RequestException(
                                                "body larger than the limit of "
                                                        + Py.thousands(limit)
                                                        + " bytes",
                                                413);
                            return n;
                        }

                        @Override
                        public int read() throws IOException {
                            inTime();
                            int b = raw.read();
                            if (b >= 0) count(1);
                            return b;
                        }

                        @Override
                        public int read(byte[] b, int off, int len) throws IOException {
                            inTime();
                            return count(raw.read(b, off, len));
                        }

                        @Override
                        public boolean isFinished() {
                            return raw.isFinished();
                        }

                        @Override
                        public boolean isReady() {
                            return raw.isReady();
                        }

                        @Override
                        public void setReadListener(ReadListener l) {
                            raw.setReadListener(l);
                        }
                    };
        }
    }
}
