package mirador.churn;

/** A request the service refuses, with its HTTP status (413 too large, 422 unprocessable). */
public class RequestException extends RuntimeException {
    public final int status;

    public RequestException(String message) {
        this(message, 422);
    }

    public RequestException(String message, int status) {
        super(message);
        this.status = status;
    }
}
