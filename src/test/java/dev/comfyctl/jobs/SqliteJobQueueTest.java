package dev.comfyctl.jobs;

import java.util.List;

/** The job queue on the embedded SQLite store (no QUEUE_URL). */
class SqliteJobQueueTest extends JobQueueBehaviour {
    @Override
    List<String> backend() {
        return List.of("QUEUE_URL", "");
    }
}
