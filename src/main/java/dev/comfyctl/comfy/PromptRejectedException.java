package dev.comfyctl.comfy;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;

/**
 * ComfyUI refused a prompt at validation (HTTP 400 from {@code POST /prompt}); nothing was queued.
 * Carries ComfyUI's own {@code error} object and {@code node_errors} map, unchanged.
 */
public final class PromptRejectedException extends ComfyApiException {

    private final JsonNode error;
    private final JsonNode nodeErrors;

    PromptRejectedException(URI uri, JsonNode error, JsonNode nodeErrors) {
        super("POST " + uri + " answered 400: prompt rejected: " + error.path("message").asText()
                + " (" + error.path("type").asText() + ")" + details(error), uri, 400, null);
        this.error = error.deepCopy();
        this.nodeErrors = nodeErrors.deepCopy();
    }

    /** ComfyUI's {@code error.type}, e.g. {@code prompt_outputs_failed_validation} or {@code invalid_prompt}. */
    public String errorType() {
        return error.path("type").asText();
    }

    /** ComfyUI's {@code error} object: type, message, details, extra_info. A copy. */
    public JsonNode error() {
        return error.deepCopy();
    }

    /**
     * ComfyUI's {@code node_errors}: node id to {@code {errors: [{type, message, details, extra_info}],
     * dependent_outputs, class_type}}; empty when the whole prompt was refused (e.g. an unknown node class).
     * A copy.
     */
    public JsonNode nodeErrors() {
        return nodeErrors.deepCopy();
    }

    private static String details(JsonNode error) {
        String details = error.path("details").asText();
        return details.isBlank() ? "" : ": " + details.strip().replace('\n', ';');
    }
}
