package dev.comfyctl.jobs;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

/** The JSON both stores keep lists in, and the {@code state} events they publish. */
final class JobJson {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final TypeReference<List<String>> STRINGS = new TypeReference<>() { };
    private static final TypeReference<List<JobOutput>> OUTPUTS = new TypeReference<>() { };

    private JobJson() {
    }

    static String errors(List<String> errors) {
        return write(errors);
    }

    static List<String> errors(String json) {
        return read(json, STRINGS);
    }

    static String outputs(List<JobOutput> outputs) {
        return write(outputs);
    }

    static List<JobOutput> outputs(String json) {
        return read(json, OUTPUTS);
    }

    /**
     * The event a store publishes when a job changes state: {@code {"state": "running", "attempt": 1,
     * "worker": "w1"}}, with {@code error} when an attempt failed.
     */
    static JobEvent stateEvent(Job job, Optional<String> error) {
        ObjectNode node = JSON.createObjectNode().put("state", job.state().id()).put("attempt", job.attempts());
        job.worker().ifPresent(worker -> node.put("worker", worker));
        error.ifPresent(text -> node.put("error", text));
        if (job.cancelRequested() && !job.state().finished()) {
            node.put("cancelRequested", true);
        }
        return new JobEvent(job.id(), Instant.now(), "state", node.toString());
    }

    private static String write(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write " + value + " as JSON", e);
        }
    }

    /** Most jobs have no errors, and no outputs until they succeed: "[]" is answered without a parser. */
    private static <E> List<E> read(String json, TypeReference<List<E>> type) {
        if (json == null || json.isEmpty() || json.equals("[]")) {
            return List.of();
        }
        try {
            return JSON.readValue(json, type);
        } catch (JsonProcessingException e) {
            throw new JobStoreException("a stored job holds unreadable JSON: " + json, e);
        }
    }
}
