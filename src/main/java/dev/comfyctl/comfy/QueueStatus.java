package dev.comfyctl.comfy;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Comparator;
import java.util.List;
import java.util.stream.StreamSupport;

/**
 * ComfyUI's queue ({@code GET /queue}) as prompt ids.
 *
 * @param running ids of the prompts executing now (at most one in ComfyUI)
 * @param pending ids of queued prompts in the order they will run
 */
public record QueueStatus(List<String> running, List<String> pending) {

    public QueueStatus {
        running = List.copyOf(running);
        pending = List.copyOf(pending);
    }

    public int runningCount() {
        return running.size();
    }

    public int pendingCount() {
        return pending.size();
    }

    /** Nothing running and nothing pending. */
    public boolean isIdle() {
        return running.isEmpty() && pending.isEmpty();
    }

    /** Items are {@code [number, prompt_id, prompt, extra_data, outputs]}; pending comes in heap order, so sort. */
    static QueueStatus fromJson(JsonNode root) {
        return new QueueStatus(ids(root.path("queue_running")), ids(root.path("queue_pending")));
    }

    private static List<String> ids(JsonNode items) {
        return StreamSupport.stream(items.spliterator(), false)
                .sorted(Comparator.comparingDouble(item -> item.path(0).asDouble()))
                .map(item -> item.path(1).asText())
                .toList();
    }
}
