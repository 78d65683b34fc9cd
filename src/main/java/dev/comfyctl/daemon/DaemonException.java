package dev.comfyctl.daemon;

import java.io.IOException;

/** The daemon cannot start or cannot be reached; the message says why and what to do. */
public final class DaemonException extends RuntimeException {
    public DaemonException(String message) {
        super(message);
    }

    public DaemonException(String message, Throwable cause) {
        super(message, cause);
    }

    /** The daemon did not answer at all (as opposed to answering no), so only a signal can still reach it. */
    public boolean unreachable() {
        return getCause() instanceof IOException;
    }
}
