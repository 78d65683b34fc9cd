package dev.comfyctl.jobs;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * A stand-in daemon for the kill -9 test, run as its own process: leases one job (printed as
 * {@code running <id>}), then enqueues jobs for ever, printing {@code queued <id>} as each enqueue returns.
 */
public final class EnqueueUntilKilled {
    private EnqueueUntilKilled() {
    }

    public static void main(String[] args) throws Exception {
        SqliteJobStore store = new SqliteJobStore(Path.of(args[0]), 3);
        store.enqueue(new JobSpec("{\"running\":{}}", 9, Optional.empty(), List.of()));
        Lease lease = store.claim("doomed-worker", Duration.ofMillis(500), Duration.ZERO).orElseThrow();
        System.out.println("running " + lease.jobId());
        while (true) {
            System.out.println("queued " + store.enqueue(new JobSpec("{}", 0, Optional.empty(), List.of())).id());
        }
    }
}
