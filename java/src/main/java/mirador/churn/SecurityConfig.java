package mirador.churn;

import jakarta.servlet.DispatcherType;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.security.authentication.AuthenticationManager;
import org.springframework.security.authentication.BadCredentialsException;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.config.annotation.web.configurers.AbstractHttpConfigurer;
import org.springframework.security.config.http.SessionCreationPolicy;
import org.springframework.security.core.authority.SimpleGrantedAuthority;
import org.springframework.security.core.context.SecurityContextHolder;
import org.springframework.security.web.AuthenticationEntryPoint;
import org.springframework.security.web.SecurityFilterChain;
import org.springframework.security.web.authentication.AnonymousAuthenticationFilter;
import org.springframework.security.web.authentication.preauth.PreAuthenticatedAuthenticationToken;
import org.springframework.web.filter.OncePerRequestFilter;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;

/**
 * API keys in a SecurityFilterChain: every route but /healthz and /readyz needs X-API-Key; a
 * declared body over the limit is 413.
 */
@Configuration
public class SecurityConfig {
    static final Set<String> OPEN_PATHS = Set.of("/healthz", "/readyz");
    static final String REFUSED = "{\"detail\": \"missing or invalid X-API-Key header\"}";

    @Bean
    public SecurityFilterChain churnSecurity(HttpSecurity http, ChurnState state) throws Exception {
        AuthenticationEntryPoint refuse =
                (req, res, e) -> {
                    res.setStatus(401);
                    res.setHeader("WWW-Authenticate", "ApiKey header=\"X-API-Key\"");
                    res.setContentType("application/json");
                    res.getOutputStream().write(REFUSED.getBytes(StandardCharsets.UTF_8));
                };
        return http.csrf(AbstractHttpConfigurer::disable)
                .httpBasic(AbstractHttpConfigurer::disable)
                .formLogin(AbstractHttpConfigurer::disable)
                .logout(AbstractHttpConfigurer::disable)
                .requestCache(AbstractHttpConfigurer::disable)
                .anonymous(AbstractHttpConfigurer::disable)
                .sessionManagement(s -> s.sessionCreationPolicy(SessionCreationPolicy.STATELESS))
                .headers(h -> h.disable()) // GuardFilter sets churn_serve's two:
                // Cache-Control no-store, nosniff
                .addFilterBefore(new ApiKeyFilter(state), AnonymousAuthenticationFilter.class)
                .authorizeHttpRequests(
                        a ->
                                a.dispatcherTypeMatchers(DispatcherType.ERROR)
                                        .permitAll()
                                        .requestMatchers("/healthz", "/readyz")
                                        .permitAll()
                                        .anyRequest()
                                        .authenticated())
                .exceptionHandling(
                        e ->
                                e.authenticationEntryPoint(refuse)
                                        .accessDeniedHandler(
                                                (req, res, x) -> refuse.commence(req, res, null)))
                .build();
    }

    /** No user names, no passwords: API keys only (and so no generated password in the log). */
    @Bean
    public AuthenticationManager noPasswords() {
        return a -> {
            throw new BadCredentialsException("this service takes API keys only");
        };
    }

    /**
     * Authenticates a request whose one X-API-Key is one of the keys (compared in constant time),
     * with churn_serve's refusals.
     */
    static final String TWO_KEYS =
            "more than one API key (X-API-Key and Authorization: Bearer headers)";

    private static final List<String> TWO_HEADERS = List.of("", "");

    /**
     * The API keys a request offers: each X-API-Key header and each Authorization: Bearer KEY (what
     * Prometheus can send); two X-API-Key headers come back as TWO_HEADERS.
     */
    static List<String> credentials(HttpServletRequest req) {
        List<String> keys = java.util.Collections.list(req.getHeaders("X-API-Key"));
        if (keys.size() > 1) return TWO_HEADERS;
        List<String> out = new java.util.ArrayList<>(keys);
        for (String a : java.util.Collections.list(req.getHeaders("Authorization"))) {
            String[] parts = a.strip().split(" +", 2);
            if (parts[0].equalsIgnoreCase("Bearer")) out.add(parts.length > 1 ? parts[1] : "");
        }
        return out;
    }

    static final class ApiKeyFilter extends OncePerRequestFilter {
        private final ChurnState state;
        final AuthLimiter limiter = new AuthLimiter(20, 60, 10_000);

        ApiKeyFilter(ChurnState state) {
            this.state = state;
        }

        static void send(HttpServletResponse res, int status, String detail) throws IOException {
            res.setStatus(status);
            res.setContentType("application/json");
            res.getOutputStream()
                    .write(
                            ChurnController.JSON.writeValueAsBytes(
                                    java.util.Map.of("detail", detail)));
        }

        @Override
        protected void doFilterInternal(
                HttpServletRequest req, HttpServletResponse res, FilterChain chain)
                throws ServletException, IOException {
            String path = req.getRequestURI(), client = req.getRemoteAddr();
            List<String> keys = credentials(req);
            if (keys.size() > 1) {
                send(res, 400, keys == TWO_HEADERS ? "more than one X-API-Key header" : TWO_KEYS);
                return;
            }
            if (!OPEN_PATHS.contains(path)) {
                double wait = limiter.waitFor(client, AuthLimiter.now());
                if (wait > 0) {
                    res.setHeader("Retry-After", String.valueOf((long) Math.ceil(wait)));
                    send(res, 429, "too many wrong keys; try again later");
                    return;
                }
                if (!state.keys().valid(keys.isEmpty() ? null : keys.get(0))) {
                    if (!keys.isEmpty()) limiter.failed(client, AuthLimiter.now());
                    chain.doFilter(
                            req,
                            res); // not authenticated: the chain refuses it with the entry point's
                    // 401
                    return;
                }
                SecurityContextHolder.getContext()
                        .setAuthentication(
                                new PreAuthenticatedAuthenticationToken(
                                        "api-key",
                                        null,
                                        List.of(new SimpleGrantedAuthority("ROLE_CLIENT"))));
            }
            if (path.equals("/mcp")
                    && !req.getMethod()
                            .equals("POST")) { // stateless JSON mode: no stream to open, no session
                // to end
                res.setHeader("Allow", "POST");
                send(res, 405, "the MCP endpoint takes POST only");
                return;
            }
            long declared = req.getContentLengthLong();
            if (declared > state.maxBodyBytes) {
                send(
                        res,
                        413,
                        "body of "
                                + Py.thousands(declared)
                                + " bytes; the limit is "
                                + Py.thousands(state.maxBodyBytes));
                return;
            }
            chain.doFilter(req, res);
        }
    }
}
