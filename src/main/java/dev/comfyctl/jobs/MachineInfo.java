package dev.comfyctl.jobs;

import java.time.Instant;
import java.util.List;

/**
 * One machine of the fleet as its last heartbeat described it.
 *
 * @param gpus the GPUs' names, one per GPU (empty on a CPU machine)
 * @param instances ComfyUI instances it runs
 * @param queueDepth jobs waiting in the queue as it saw it
 * @param lastSeen when it sent the heartbeat
 */
public record MachineInfo(String machineId, List<String> gpus, int instances, long queueDepth, Instant lastSeen) {
    public MachineInfo {
        gpus = List.copyOf(gpus);
    }
}
