package dev.comfyctl.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.Iterator;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Checks a workflow at submit, the way ComfyUI's {@code validate_prompt} does, so that a broken one is refused
 * at once with ComfyUI-style {@code node_errors} instead of failing minutes later on a worker: every node has a
 * known {@code class_type}, every required input is given, every link names an existing node and an output of the
 * right type, and some node is an output node.
 *
 * <p>The node definitions come from {@code GET /object_info} of a READY instance and are cached in the state
 * directory, so that validation still works while every instance sleeps. When no instance was ever ready (no
 * cache), only the shape is checked (an object of nodes, each with a class_type) and ComfyUI's own validation
 * decides when the job runs: a refusal then fails the job with ComfyUI's node errors.
 */
public final class WorkflowValidator {
    private static final Logger log = LoggerFactory.getLogger(WorkflowValidator.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** An unknown class refetches the definitions (a custom node may be new), at most this often. */
    private static final Duration REFRESH_AT_MOST_EVERY = Duration.ofSeconds(10);

    private final Path cacheFile;
    private final Supplier<Optional<ComfyFiles>> readyComfy;
    private volatile JsonNode nodes;
    private volatile Instant fetchedAt = Instant.EPOCH;

    WorkflowValidator(Path cacheFile, Supplier<Optional<ComfyFiles>> readyComfy) {
        this.cacheFile = cacheFile;
        this.readyComfy = readyComfy;
    }

    /** ComfyUI's answer to an invalid prompt ({@code error} and {@code node_errors}); empty when it is valid. */
    public Optional<ObjectNode> check(JsonNode prompt) {
        if (!prompt.isObject() || prompt.isEmpty()) {
            return Optional.of(refusal("invalid_prompt", "Invalid prompt: \"prompt\" must be an object of nodes", "", null));
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = prompt.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> node = it.next();
            if (!node.getValue().isObject() || !node.getValue().path("class_type").isTextual()) {
                return Optional.of(refusal("invalid_prompt", "Cannot execute because a node is missing the class_type property.",
                        "Node ID '#" + node.getKey() + "'", null));
            }
        }
        JsonNode definitions = definitions(prompt);
        if (definitions == null) {
            return Optional.empty();
        }
        boolean hasOutput = false;
        for (Iterator<Map.Entry<String, JsonNode>> it = prompt.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> node = it.next();
            String classType = node.getValue().path("class_type").asText();
            if (!definitions.has(classType)) {
                return Optional.of(refusal("invalid_prompt", "Cannot execute because node " + classType + " does not exist.",
                        "Node ID '#" + node.getKey() + "'", null));
            }
            hasOutput |= definitions.path(classType).path("output_node").asBoolean();
        }
        if (!hasOutput) {
            return Optional.of(refusal("prompt_no_outputs", "Prompt has no outputs", "", null));
        }
        ObjectNode nodeErrors = JSON.createObjectNode();
        StringBuilder details = new StringBuilder();
        for (Iterator<Map.Entry<String, JsonNode>> it = prompt.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> node = it.next();
            ArrayNode errors = inputErrors(prompt, definitions, node.getValue());
            if (!errors.isEmpty()) {
                ObjectNode entry = nodeErrors.putObject(node.getKey());
                entry.set("errors", errors);
                entry.putArray("dependent_outputs");
                entry.put("class_type", node.getValue().path("class_type").asText());
                errors.forEach(e -> details.append(e.path("message").asText()).append(": ").append(e.path("details").asText()).append('\n'));
            }
        }
        if (nodeErrors.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(refusal("prompt_outputs_failed_validation", "Prompt outputs failed validation",
                details.toString().strip(), nodeErrors));
    }

    private ArrayNode inputErrors(JsonNode prompt, JsonNode definitions, JsonNode node) {
        ArrayNode errors = JSON.createArrayNode();
        JsonNode inputs = node.path("inputs");
        for (Iterator<Map.Entry<String, JsonNode>> it = definitions.path(node.path("class_type").asText()).path("input")
                .path("required").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> required = it.next();
            String name = required.getKey();
            JsonNode value = inputs.get(name);
            if (value == null) {
                errors.add(inputError("required_input_missing", "Required input is missing", name, name));
                continue;
            }
            if (!value.isArray()) {
                continue;
            }
            if (value.size() != 2) {
                errors.add(inputError("bad_linked_input", "Bad linked input, must be a length-2 list of [node_id, slot_index]", name, name));
                continue;
            }
            JsonNode source = prompt.get(value.get(0).asText());
            if (source == null) {
                errors.add(inputError("bad_linked_input", "Linked node does not exist", name + ": " + value.get(0).asText(), name));
                continue;
            }
            JsonNode outputs = definitions.path(source.path("class_type").asText()).path("output");
            int slot = value.get(1).asInt(-1);
            String received = slot >= 0 && slot < outputs.size() ? outputs.get(slot).asText() : null;
            String wanted = required.getValue().path(0).isTextual() ? required.getValue().path(0).asText() : null;
            if (wanted != null && !wanted.equals("*") && !wanted.equals(received)) {
                errors.add(inputError("return_type_mismatch", "Return type mismatch between linked nodes",
                        name + ", received_type(" + received + ") mismatch input_type(" + wanted + ")", name));
            }
        }
        return errors;
    }

    /** The node definitions: fetched from a READY instance when missing or when the prompt names an unknown class. */
    private JsonNode definitions(JsonNode prompt) {
        if (nodes == null) {
            nodes = fetch().or(this::readCache).orElse(null);
        } else if (namesUnknownClass(prompt) && Duration.between(fetchedAt, Instant.now()).compareTo(REFRESH_AT_MOST_EVERY) > 0) {
            fetch().ifPresent(fresh -> nodes = fresh);
        }
        return nodes;
    }

    /** Fetches the definitions now when an instance is READY (call when one becomes READY). */
    void refresh() {
        fetch().ifPresent(fresh -> nodes = fresh);
    }

    private boolean namesUnknownClass(JsonNode prompt) {
        for (JsonNode node : prompt) {
            if (!nodes.has(node.path("class_type").asText())) {
                return true;
            }
        }
        return false;
    }

    private Optional<JsonNode> fetch() {
        Optional<ComfyFiles> comfy = readyComfy.get();
        if (comfy.isEmpty()) {
            return Optional.empty();
        }
        try {
            String text = comfy.get().objectInfo();
            JsonNode parsed = JSON.readTree(text);
            fetchedAt = Instant.now();
            Files.createDirectories(cacheFile.getParent());
            Path partial = cacheFile.resolveSibling(cacheFile.getFileName() + ".tmp");
            Files.writeString(partial, text);
            Files.move(partial, cacheFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            return Optional.of(parsed);
        } catch (ComfyUnreachableException | IOException e) {
            log.warn("jobs: cannot fetch ComfyUI's node definitions for validation: {}", e.getMessage());
            return Optional.empty();
        }
    }

    private Optional<JsonNode> readCache() {
        if (!Files.isRegularFile(cacheFile)) {
            return Optional.empty();
        }
        try {
            return Optional.of(JSON.readTree(cacheFile.toFile()));
        } catch (IOException e) {
            log.warn("jobs: ignoring the damaged node definitions cache {}: {}", cacheFile, e.getMessage());
            return Optional.empty();
        }
    }

    private static ObjectNode inputError(String type, String message, String details, String inputName) {
        ObjectNode error = JSON.createObjectNode().put("type", type).put("message", message).put("details", details);
        error.putObject("extra_info").put("input_name", inputName);
        return error;
    }

    private static ObjectNode refusal(String type, String message, String details, ObjectNode nodeErrors) {
        ObjectNode body = JSON.createObjectNode();
        body.putObject("error").put("type", type).put("message", message).put("details", details).putObject("extra_info");
        body.set("node_errors", nodeErrors == null ? JSON.createObjectNode() : nodeErrors);
        return body;
    }
}
