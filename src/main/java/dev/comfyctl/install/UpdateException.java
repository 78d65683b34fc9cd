package dev.comfyctl.install;

import java.util.List;

/** An update could not be done, or was done and rolled back; the tail shows the words of what failed. */
public final class UpdateException extends RuntimeException {
    private final List<String> outputTail;

    public UpdateException(String message, List<String> outputTail) {
        super(message);
        this.outputTail = List.copyOf(outputTail.subList(Math.max(0, outputTail.size() - 20), outputTail.size()));
    }

    public List<String> outputTail() {
        return outputTail;
    }
}
