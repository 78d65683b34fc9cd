package dev.comfyctl.comfy;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * Waits for ComfyUI's queue to empty, polling {@code GET /queue}, up to a deadline, and says in words how it went:
 * what a scheduled restart and an update do before they stop ComfyUI, so that no generation is cut.
 *
 * @param limit     the drain limit the deadline comes from, named when it is reached
 * @param goneAhead what the caller does once the wait ends, past tense ("restarted", "updated")
 */
public record QueueDrain(Clock clock, Duration poll, Duration limit, String goneAhead) {

    /**
     * @param deadline    when to stop waiting, shared by several instances drained one after another
     * @param busyBesides work on this ComfyUI that its queue no longer shows, such as a job still fetching the
     *                    outputs of a finished prompt: the queue counts as empty only when this is false too
     * @param onFirstWait told the queue once, when it is not empty at first
     */
    public String await(ComfyClient client, Instant deadline, BooleanSupplier busyBesides, Consumer<QueueStatus> onFirstWait) {
        Instant began = clock.instant();
        boolean waited = false;
        while (true) {
            QueueStatus queue;
            try {
                queue = client.queue();
            } catch (RuntimeException e) {
                return "queue unreadable (" + e.getMessage() + "), " + goneAhead + " without waiting";
            }
            if (queue.isIdle() && !busyBesides.getAsBoolean()) {
                return waited ? "waited " + Duration.between(began, clock.instant()).toSeconds() + " s for the queue" : "queue was empty";
            }
            if (!clock.instant().isBefore(deadline)) {
                return "drain limit of " + limit.toSeconds() + " s reached with " + queue.runningCount() + " running and "
                        + queue.pendingCount() + " pending: " + goneAhead + " anyway (RESTART_DRAIN_MAX_SECONDS)";
            }
            if (!waited) {
                onFirstWait.accept(queue);
                waited = true;
            }
            try {
                Thread.sleep(poll.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return "interrupted while waiting for the queue";
            }
        }
    }
}
