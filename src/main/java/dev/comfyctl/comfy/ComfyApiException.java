package dev.comfyctl.comfy;

import java.net.URI;

/**
 * A ComfyUI HTTP call that failed: no answer (refused, reset, timed out) or an unexpected status.
 * The message names the method, the URL and the status or the transport failure.
 */
public class ComfyApiException extends RuntimeException {

    private final URI uri;
    private final int status;

    ComfyApiException(String message, URI uri, int status, Throwable cause) {
        super(message, cause);
        this.uri = uri;
        this.status = status;
    }

    static ComfyApiException status(String method, URI uri, int status, String body) {
        return new ComfyApiException(method + " " + uri + " answered " + status + snippet(body), uri, status, null);
    }

    static ComfyApiException transport(String method, URI uri, String what, Throwable cause) {
        return new ComfyApiException(method + " " + uri + " " + what, uri, 0, cause);
    }

    /** The URL that was called. */
    public URI uri() {
        return uri;
    }

    /** The HTTP status ComfyUI answered, or 0 when no answer came. */
    public int status() {
        return status;
    }

    private static String snippet(String body) {
        if (body == null || body.isBlank()) {
            return "";
        }
        String oneLine = body.strip().replaceAll("\\s+", " ");
        return ": " + (oneLine.length() > 200 ? oneLine.substring(0, 200) + "..." : oneLine);
    }
}
