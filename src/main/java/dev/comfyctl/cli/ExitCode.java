package dev.comfyctl.cli;

/** comfyctl's exit codes. */
final class ExitCode {
    static final int OK = 0;
    static final int FAILED = 1;
    static final int INVALID_INPUT = 2;
    static final int NOT_RUNNING = 3;
    static final int INTERNAL_ERROR = 4;

    private ExitCode() {
    }
}
