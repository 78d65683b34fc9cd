package dev.comfyctl.daemon;

/** The daemon cannot start or cannot be reached; the message says why and what to do. */
public final class DaemonException extends RuntimeException {
    public DaemonException(String message) {
        super(message);
    }

    public DaemonException(String message, Throwable cause) {
        super(message, cause);
    }
}
