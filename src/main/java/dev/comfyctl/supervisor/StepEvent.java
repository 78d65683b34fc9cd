package dev.comfyctl.supervisor;

import java.time.Instant;

/** What one start step did: printed by the CLI as it happens and kept for {@code status}. */
public record StepEvent(Step step, Outcome outcome, String message, Instant at) {

    public enum Outcome {
        RUNNING,
        DONE,
        WARNING,
        FAILED
    }

    static StepEvent of(Step step, Outcome outcome, String message) {
        return new StepEvent(step, outcome, message, Instant.now());
    }
}
