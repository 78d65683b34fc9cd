package dev.comfyctl.supervisor;

import java.time.Duration;
import java.util.List;

/**
 * What a stop request did.
 *
 * @param wasRunning false when nothing ran (stop is idempotent)
 * @param forced true when something had to be killed after the grace period
 */
public record StopOutcome(boolean wasRunning, boolean forced, Duration took, List<Long> signalled) {
}
