package dev.comfyctl.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** A job as the API shows it ({@code GET /jobs/{id}}, webhooks): everything but the workflow and input bytes. */
public final class JobView {
    private static final ObjectMapper JSON = new ObjectMapper();

    private JobView() {
    }

    public static ObjectNode of(Job job) {
        ObjectNode json = JSON.createObjectNode().put("id", job.id()).put("state", job.state().id())
                .put("priority", job.spec().priority()).put("progress", job.progress()).put("attempts", job.attempts())
                .put("cancelRequested", job.cancelRequested()).put("createdAt", job.createdAt().toString());
        job.startedAt().ifPresent(at -> json.put("startedAt", at.toString()));
        job.finishedAt().ifPresent(at -> json.put("finishedAt", at.toString()));
        job.worker().ifPresent(worker -> json.put("worker", worker));
        job.spec().webhook().ifPresent(webhook -> json.put("webhook", webhook));
        if (!job.errors().isEmpty()) {
            json.put("error", job.errors().get(job.errors().size() - 1));
        }
        ArrayNode errors = json.putArray("errors");
        job.errors().forEach(errors::add);
        ArrayNode inputs = json.putArray("inputs");
        job.spec().inputs().forEach(input -> inputs.addObject().put("name", input.name()).put("size", input.content().length));
        ArrayNode outputs = json.putArray("outputs");
        job.outputs().forEach(output -> outputs.addObject().put("node", output.node()).put("filename", output.filename())
                .put("subfolder", output.subfolder()).put("type", output.type()).put("path", output.path())
                .put("size", output.size()).put("sha256", output.sha256())
                .put("url", "/jobs/" + job.id() + "/outputs/" + output.filename()));
        return json;
    }
}
