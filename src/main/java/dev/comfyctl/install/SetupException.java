package dev.comfyctl.install;

import java.util.List;

/** A setup step failed; the message names the step and how to retry, the tail shows the command's own words. */
public final class SetupException extends RuntimeException {
    private final List<String> outputTail;

    public SetupException(String message, List<String> outputTail) {
        super(message);
        this.outputTail = List.copyOf(outputTail);
    }

    public List<String> outputTail() {
        return outputTail;
    }
}
