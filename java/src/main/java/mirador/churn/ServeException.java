package mirador.churn;

/**
 * A service that cannot start as configured, or a model file that breaks the contract: one line,
 * said as it is.
 */
public class ServeException extends RuntimeException {
    public ServeException(String message) {
        super(message);
    }
}
