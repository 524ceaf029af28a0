package fulgur.serve.http;

/**
 * A request the server answers with an error: the HTTP status and the OpenAI error object
 * {@code {"error": {"message", "type", "param", "code"}}} that tells the client what was wrong.
 */
final class ApiException extends RuntimeException {
    final int status;
    final String type;
    final String param;
    final String code;
    final int retryAfterSeconds;

    ApiException(int status, String type, String param, String code, String message, int retryAfterSeconds) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** 400: a field is missing, of the wrong type or out of range. */
    static ApiException invalid(String param, String code, String message) {
        return new ApiException(400, "invalid_request_error", param, code, message, 0);
    }

    static ApiException invalidType(String param, String expected, String got) {
        return invalid(
                param,
                "invalid_type",
                "Invalid type for '" + param + "': expected " + expected + ", but got " + got + " instead.");
    }

    static ApiException invalidValue(String param, String message) {
        return invalid(param, "invalid_value", "Invalid '" + param + "': " + message);
    }

    static ApiException unauthorized(String message, String code) {
        return new ApiException(401, "invalid_request_error", null, code, message, 0);
    }

    static ApiException modelNotFound(String model) {
        return new ApiException(
                404,
                "invalid_request_error",
                "model",
                "model_not_found",
                "The model '" + model + "' does not exist or you do not have access to it.",
                0);
    }

    static ApiException tooLarge(String message) {
        return new ApiException(413, "invalid_request_error", null, "request_too_large", message, 0);
    }

    static ApiException busy(String message, int retryAfterSeconds) {
        return new ApiException(
                429, "rate_limit_error", null, "rate_limit_exceeded", message, Math.max(1, retryAfterSeconds));
    }

    static ApiException server(String message) {
        return new ApiException(500, "server_error", null, null, message, 0);
    }
}
