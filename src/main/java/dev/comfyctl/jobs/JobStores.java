package dev.comfyctl.jobs;

import dev.comfyctl.config.Config;

/** The job store the configuration asks for: embedded SQLite without {@code QUEUE_URL}, Redis with it. */
public final class JobStores {
    private JobStores() {
    }

    /** @throws JobStoreException when the store cannot be opened, with what to check */
    public static JobStore open(Config config) {
        if (config.queueUrl().isPresent()) {
            throw new JobStoreException("QUEUE_URL=redis://... needs the Redis job store, which this build does not have yet;"
                    + " leave QUEUE_URL empty for the embedded queue", null);
        }
        return new SqliteJobStore(config.jobsDb(), config.jobMaxAttempts());
    }
}
