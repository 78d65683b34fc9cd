package dev.comfyctl.supervisor;

import java.nio.file.Path;
import java.time.Duration;

/**
 * What a start request did.
 *
 * @param alreadyRunning true when ComfyUI was already ready and nothing was started
 */
public record StartOutcome(boolean alreadyRunning, long pid, Duration timeToReady, Path sessionLog) {
}
