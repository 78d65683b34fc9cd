package dev.comfyctl.comfy;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * ComfyUI accepted and queued a prompt.
 *
 * @param promptId the id to follow in WebSocket messages and {@code /history}
 * @param number its queue number (ComfyUI answers a float when the client chose one; the fraction is dropped)
 * @param nodeErrors normally empty; holds errors of outputs ComfyUI dropped while still running the valid ones
 */
public record PromptResult(String promptId, long number, JsonNode nodeErrors) {

    public PromptResult {
        nodeErrors = nodeErrors.deepCopy();
    }

    @Override
    public JsonNode nodeErrors() {
        return nodeErrors.deepCopy();
    }
}
