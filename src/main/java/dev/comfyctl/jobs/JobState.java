package dev.comfyctl.jobs;

import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;

/** Where a job is in its life; {@link #id()} is the name in the API ({@code queued}, ...). */
public enum JobState {
    QUEUED,
    RUNNING,
    SUCCEEDED,
    /** Every attempt failed (the job is then in the dead letters too), or the workflow was invalid. */
    FAILED,
    CANCELLED;

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public boolean finished() {
        return this == SUCCEEDED || this == FAILED || this == CANCELLED;
    }

    public static Optional<JobState> byId(String id) {
        return Arrays.stream(values()).filter(s -> s.id().equals(id.strip().toLowerCase(Locale.ROOT))).findFirst();
    }
}
