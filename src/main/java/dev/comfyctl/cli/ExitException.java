package dev.comfyctl.cli;

/** Ends a command with an exit code and a one-line reason for stderr. */
final class ExitException extends RuntimeException {
    private final int code;

    ExitException(int code, String message) {
        super(message);
        this.code = code;
    }

    int code() {
        return code;
    }
}
