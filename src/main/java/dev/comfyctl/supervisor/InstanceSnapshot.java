package dev.comfyctl.supervisor;

import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A consistent read of one instance, for status output and the control API.
 *
 * @param lastFailureLogTail ComfyUI's last log lines when the last start failed after launching it
 */
public record InstanceSnapshot(
        String name,
        InstanceState state,
        OptionalLong pid,
        int port,
        Optional<Instant> startedAt,
        Optional<Instant> readyAt,
        Optional<Path> sessionLog,
        Optional<String> lastError,
        List<String> lastFailureLogTail,
        int consecutiveCrashes,
        Optional<Instant> restartScheduledAt,
        List<StepEvent> steps) {
}
