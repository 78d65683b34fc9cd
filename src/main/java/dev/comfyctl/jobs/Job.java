package dev.comfyctl.jobs;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * A job as stored: what was asked, and how far it got.
 *
 * @param attempts attempts started so far (a reclaimed job counts again)
 * @param worker the worker running it, while it runs
 * @param progress 0 to 1
 * @param errors one per failed attempt, oldest first
 * @param cancelRequested a running job asked to stop: its worker interrupts ComfyUI
 */
public record Job(String id, JobState state, JobSpec spec, int attempts, Optional<String> worker, double progress,
                  List<String> errors, List<JobOutput> outputs, Instant createdAt, Optional<Instant> startedAt,
                  Optional<Instant> finishedAt, boolean cancelRequested) {
    public Job {
        errors = List.copyOf(errors);
        outputs = List.copyOf(outputs);
    }
}
