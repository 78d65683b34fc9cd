package dev.comfyctl.supervisor;

import java.util.List;

/** A start failed at one step; the message says what and how to fix it, the log tail shows ComfyUI's own words. */
public final class StartFailedException extends RuntimeException {
    private final Step step;
    private final List<String> logTail;

    public StartFailedException(Step step, String message, List<String> logTail) {
        super(message);
        this.step = step;
        this.logTail = List.copyOf(logTail);
    }

    public StartFailedException(Step step, String message) {
        this(step, message, List.of());
    }

    public Step step() {
        return step;
    }

    public List<String> logTail() {
        return logTail;
    }
}
