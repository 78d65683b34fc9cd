package dev.comfyctl.install;

import dev.comfyctl.comfy.ComfyClient;
import dev.comfyctl.comfy.QueueStatus;

import java.time.Clock;
import java.time.Duration;

/** Waits for ComfyUI's queue to empty, polling {@code GET /queue}, up to a deadline; says how it went. */
final class QueueDrain {
    private QueueDrain() {
    }

    static String until(ComfyClient client, long deadlineMillis, Clock clock, Duration poll) {
        long began = clock.millis();
        while (true) {
            QueueStatus queue;
            try {
                queue = client.queue();
            } catch (RuntimeException e) {
                return "queue unreadable (" + e.getMessage() + "), not waited for";
            }
            if (queue.isIdle()) {
                long waited = clock.millis() - began;
                return waited < poll.toMillis() ? "queue was empty" : "waited " + waited / 1000 + " s for the queue";
            }
            if (clock.millis() >= deadlineMillis) {
                return "drain limit reached with " + queue.runningCount() + " running and " + queue.pendingCount()
                        + " pending: updated anyway (RESTART_DRAIN_MAX_SECONDS)";
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
