package mirador.churn;

import jakarta.servlet.RequestDispatcher;
import jakarta.servlet.http.HttpServletRequest;

import org.springframework.boot.webmvc.error.ErrorController;
import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

import java.util.Map;

/**
 * Errors outside the routes (404, 405, 400) as {"detail": reason}, as churn_serve answers them; no
 * stack trace, no path.
 */
@RestController
public class ErrorJson implements ErrorController {
    @RequestMapping("/error")
    public ResponseEntity<String> error(HttpServletRequest request) {
        Object code = request.getAttribute(RequestDispatcher.ERROR_STATUS_CODE);
        int status = code instanceof Integer i ? i : 500;
        HttpStatus s = HttpStatus.resolve(status);
        return ChurnController.json(
                status, Map.of("detail", s != null ? s.getReasonPhrase() : "Error"));
    }
}
