package dev.comfyctl.jobs;

import java.time.Instant;

/**
 * Something that happened to a job, relayed to {@code GET /jobs/{id}/events} on any daemon of the fleet.
 *
 * @param type {@code state}, {@code progress}, or a ComfyUI WebSocket message type ({@code executing}, ...)
 * @param json the event's data as a JSON object
 */
public record JobEvent(String jobId, Instant at, String type, String json) {
}
