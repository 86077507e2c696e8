package mirador.churn;

import jakarta.servlet.DispatcherType;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
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

/** API keys in a SecurityFilterChain: every route but /healthz and /readyz needs X-API-Key; a declared body over the limit is 413. */
@Configuration
public class SecurityConfig {
    static final Set<String> OPEN_PATHS = Set.of("/healthz", "/readyz");
    static final String REFUSED = "{\"detail\": \"missing or invalid X-API-Key header\"}";

    @Bean
    public SecurityFilterChain churnSecurity(HttpSecurity http, ChurnState state) throws Exception {
        AuthenticationEntryPoint refuse = (req, res, e) -> {
            res.setStatus(401);
            res.setHeader("WWW-Authenticate", "ApiKey header=\"X-API-Key\"");
            res.setContentType("application/json");
            res.getOutputStream().write(REFUSED.getBytes(StandardCharsets.UTF_8));
        };
        return http.csrf(AbstractHttpConfigurer::disable).httpBasic(AbstractHttpConfigurer::disable)
                .formLogin(AbstractHttpConfigurer::disable).logout(AbstractHttpConfigurer::disable)
                .requestCache(AbstractHttpConfigurer::disable).anonymous(AbstractHttpConfigurer::disable)
                .sessionManagement(s -> s.sessionCreationPolicy(SessionCreationPolicy.STATELESS))
                .headers(h -> h.cacheControl(c -> {}).contentTypeOptions(c -> {}))
                .addFilterBefore(new ApiKeyFilter(state), AnonymousAuthenticationFilter.class)
                .authorizeHttpRequests(a -> a.dispatcherTypeMatchers(DispatcherType.ERROR).permitAll()
                        .requestMatchers("/healthz", "/readyz").permitAll().anyRequest().authenticated())
                .exceptionHandling(e -> e.authenticationEntryPoint(refuse).accessDeniedHandler((req, res, x) -> refuse.commence(req, res, null)))
                .build();
    }

    /** No user names, no passwords: API keys only (and so no generated password in the log). */
    @Bean
    public AuthenticationManager noPasswords() {
        return a -> { throw new BadCredentialsException("this service takes API keys only"); };
    }

    /** Authenticates a request whose X-API-Key is one of the keys (compared in constant time); checks the declared body size. */
    static final class ApiKeyFilter extends OncePerRequestFilter {
        private final ChurnState state;
        ApiKeyFilter(ChurnState state) { this.state = state; }

        @Override
        protected void doFilterInternal(HttpServletRequest req, HttpServletResponse res, FilterChain chain) throws ServletException, IOException {
            String path = req.getRequestURI();
            boolean open = OPEN_PATHS.contains(path);
            if (state.keys().valid(req.getHeader("X-API-Key"))) {
                PreAuthenticatedAuthenticationToken t = new PreAuthenticatedAuthenticationToken("api-key", null,
                        List.of(new SimpleGrantedAuthority("ROLE_CLIENT")));
                SecurityContextHolder.getContext().setAuthentication(t);
            } else if (!open) {
                chain.doFilter(req, res);   // no authentication: the chain refuses it with the entry point's 401
                return;
            }
            long declared = req.getContentLengthLong();
            if (declared > state.maxBodyBytes) {
                res.setStatus(413);
                res.setContentType("application/json");
                res.getOutputStream().write(("{\"detail\": \"body of " + Py.thousands(declared) + " bytes; the limit is "
                        + Py.thousands(state.maxBodyBytes) + "\"}").getBytes(StandardCharsets.UTF_8));
                return;
            }
            chain.doFilter(req, res);
        }
    }
}
