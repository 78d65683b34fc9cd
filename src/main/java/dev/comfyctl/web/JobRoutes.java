package dev.comfyctl.web;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.comfyctl.jobs.Job;
import dev.comfyctl.jobs.JobInput;
import dev.comfyctl.jobs.JobView;
import dev.comfyctl.jobs.JobService;
import dev.comfyctl.jobs.JobSpec;
import dev.comfyctl.jobs.JobState;
import io.vertx.core.Context;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.FileUpload;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

/**
 * The job queue on comfyctl's own paths: {@code POST /jobs} (JSON like ComfyUI's {@code POST /prompt} plus
 * {@code priority} and {@code webhook}, or multipart with a {@code workflow} part and input files),
 * {@code GET /jobs[?state=]}, {@code GET /jobs/{id}}, {@code GET /jobs/{id}/events} (server-sent events),
 * {@code GET /jobs/{id}/outputs/<file>}, {@code DELETE /jobs/{id}}, and {@code GET /fleet} (the machines working the queue). ComfyUI's own {@code /api/jobs} is not
 * among them: it stays proxied. Every error is JSON with a message that says what to change.
 */
public final class JobRoutes {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_BODY_BYTES = 512L * 1024 * 1024;
    private static final int LIST_LIMIT = 1000;

    private final JobService jobs;
    private final Path uploads;

    /** @param uploads where multipart uploads are spooled while a submit is read */
    public JobRoutes(JobService jobs, Path uploads) {
        this.jobs = jobs;
        this.uploads = uploads;
    }

    public void mount(Router router) {
        router.post("/jobs").handler(BodyHandler.create(uploads.toString()).setBodyLimit(MAX_BODY_BYTES)
                .setDeleteUploadedFilesOnEnd(true)).handler(this::submit);
        router.get("/jobs").handler(this::list);
        router.get("/jobs/:id").handler(ctx -> blocking(ctx, () -> jobs.store().find(ctx.pathParam("id"))
                .map(job -> reply(200, JobView.of(job))).orElseGet(() -> notFound(ctx.pathParam("id")))));
        router.delete("/jobs/:id").handler(ctx -> blocking(ctx, () -> jobs.store().cancel(ctx.pathParam("id"))
                .map(job -> reply(200, JobView.of(job))).orElseGet(() -> notFound(ctx.pathParam("id")))));
        router.get("/jobs/:id/events").handler(this::events);
        router.get("/jobs/:id/outputs/*").handler(this::output);
        router.get("/fleet").handler(ctx -> blocking(ctx, () -> {
            JsonArray machines = new JsonArray();
            jobs.machines().forEach(machine -> machines.add(new JsonObject().put("machine", machine.machineId())
                    .put("gpus", new JsonArray(machine.gpus())).put("instances", machine.instances())
                    .put("queueDepth", machine.queueDepth()).put("lastSeen", machine.lastSeen().toString())));
            return new Reply(200, new JsonObject().put("machines", machines).put("depth", jobs.store().depth()));
        }));
    }

    private record Reply(int status, JsonObject body) {
    }

    private static Reply reply(int status, ObjectNode body) {
        return new Reply(status, new JsonObject(body.toString()));
    }

    private static Reply error(int status, String message) {
        return new Reply(status, new JsonObject().put("error", message));
    }

    private static Reply notFound(String id) {
        return error(404, "no job " + id + "; 'comfyctl jobs list' shows the jobs there are");
    }

    private void blocking(RoutingContext ctx, Callable<Reply> work) {
        ctx.vertx().executeBlocking(work, false)
                .onSuccess(reply -> ControlRoutes.json(ctx.response(), reply.status(), reply.body()))
                .onFailure(failure -> ControlRoutes.json(ctx.response(), 500,
                        new JsonObject().put("error", "the job store failed: " + failure.getMessage())));
    }

    private void list(RoutingContext ctx) {
        String state = ctx.request().getParam("state");
        Optional<JobState> wanted = state == null || state.isBlank() ? Optional.empty() : JobState.byId(state);
        if (state != null && !state.isBlank() && wanted.isEmpty()) {
            ControlRoutes.json(ctx.response(), 400, new JsonObject().put("error", "unknown state '" + state
                    + "'; use one of queued, running, succeeded, failed, cancelled"));
            return;
        }
        blocking(ctx, () -> {
            JsonArray list = new JsonArray();
            jobs.store().list(wanted, LIST_LIMIT).forEach(job -> list.add(new JsonObject(JobView.of(job).toString())));
            return new Reply(200, new JsonObject().put("jobs", list).put("depth", jobs.store().depth()));
        });
    }

    private void submit(RoutingContext ctx) {
        Submission submission;
        try {
            submission = read(ctx);
        } catch (BadSubmission e) {
            ControlRoutes.json(ctx.response(), 400, new JsonObject().put("error", e.getMessage()));
            return;
        }
        blocking(ctx, () -> {
            Optional<ObjectNode> invalid = jobs.validate(submission.prompt());
            if (invalid.isPresent()) {
                return reply(400, invalid.get());
            }
            Job job = jobs.store().enqueue(new JobSpec(submission.prompt().toString(), submission.priority(),
                    submission.webhook(), submission.inputs()));
            return new Reply(202, new JsonObject().put("id", job.id()).put("state", job.state().id()));
        });
    }

    private record Submission(JsonNode prompt, int priority, Optional<String> webhook, List<JobInput> inputs) {
    }

    private static Submission read(RoutingContext ctx) throws BadSubmission {
        List<JobInput> inputs = new ArrayList<>();
        String workflowText = ctx.request().getFormAttribute("workflow");
        String priority = ctx.request().getFormAttribute("priority");
        String webhook = ctx.request().getFormAttribute("webhook");
        boolean multipart = ctx.request().isExpectMultipart() || !ctx.fileUploads().isEmpty();
        for (FileUpload upload : ctx.fileUploads()) {
            try {
                byte[] content = Files.readAllBytes(Path.of(upload.uploadedFileName()));
                if (upload.name().equals("workflow")) {
                    workflowText = new String(content, StandardCharsets.UTF_8);
                } else {
                    String name = Path.of(upload.fileName()).getFileName().toString();
                    if (name.isBlank()) {
                        throw new BadSubmission("the file part '" + upload.name() + "' has no file name; send it with filename=\"...\"");
                    }
                    inputs.add(new JobInput(name, content));
                }
            } catch (IOException e) {
                throw new BadSubmission("cannot read the uploaded part '" + upload.name() + "': " + e.getMessage());
            }
        }
        JsonNode body;
        String text = multipart ? workflowText : ctx.body().asString();
        if (text == null || text.isBlank()) {
            throw new BadSubmission(multipart ? "the multipart body has no 'workflow' part; add one with the API-format workflow JSON"
                    : "the body is empty; send {\"prompt\": {...API-format workflow...}}");
        }
        try {
            body = JSON.readTree(text);
        } catch (IOException e) {
            throw new BadSubmission("the " + (multipart ? "workflow part" : "body") + " is not JSON: "
                    + e.getMessage().lines().findFirst().orElse(""));
        }
        JsonNode prompt = body.path("prompt").isObject() ? body.get("prompt") : body;
        if (!multipart && !body.path("prompt").isObject()) {
            throw new BadSubmission("the body has no \"prompt\" object; send {\"prompt\": {...API-format workflow...}} "
                    + "(export it from ComfyUI with 'Export (API)')");
        }
        if (priority == null && body.has("priority")) {
            priority = body.get("priority").asText();
        }
        if (webhook == null && body.path("webhook").isTextual()) {
            webhook = body.get("webhook").asText();
        }
        return new Submission(prompt, priority(priority), webhook(webhook), inputs);
    }

    private static int priority(String raw) throws BadSubmission {
        if (raw == null || raw.isBlank()) {
            return 0;
        }
        try {
            return Integer.parseInt(raw.strip());
        } catch (NumberFormatException e) {
            throw new BadSubmission("priority must be a whole number (higher runs first), got '" + raw + "'");
        }
    }

    private static Optional<String> webhook(String raw) throws BadSubmission {
        if (raw == null || raw.isBlank()) {
            return Optional.empty();
        }
        try {
            URI uri = URI.create(raw.strip());
            if (!("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) || uri.getHost() == null) {
                throw new IllegalArgumentException("not an http(s) URL");
            }
            return Optional.of(uri.toString());
        } catch (IllegalArgumentException e) {
            throw new BadSubmission("webhook must be an http(s) URL, got '" + raw + "'");
        }
    }

    private void output(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        String name = ctx.pathParam("*");
        ctx.vertx().executeBlocking(() -> jobs.store().find(id).map(job -> jobs.outputs().find(job, name)), false)
                .onSuccess(found -> {
                    if (found.isEmpty()) {
                        ControlRoutes.json(ctx.response(), 404, notFound(id).body());
                    } else if (found.get().isEmpty()) {
                        ControlRoutes.json(ctx.response(), 404, new JsonObject().put("error", "job " + id + " has no output '"
                                + name + "'; its outputs are listed by GET /jobs/" + id));
                    } else {
                        ctx.response().sendFile(found.get().get().toString());
                    }
                })
                .onFailure(ctx::fail);
    }

    /**
     * The job's state now, then every event as it happens ({@code progress}, {@code executing}, ...), and a
     * {@code state} event whenever its state changes; the stream ends when the job has finished. State is also
     * polled each second, so a finish that happened on another daemon of the fleet is never missed.
     */
    private void events(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        Context connection = ctx.vertx().getOrCreateContext();
        ctx.vertx().executeBlocking(() -> jobs.store().find(id), false).onSuccess(found -> {
            if (found.isEmpty()) {
                ControlRoutes.json(ctx.response(), 404, notFound(id).body());
                return;
            }
            new JobEventStream(ctx.vertx(), jobs.store(), new SseClient(ctx.response(), connection), found.get()).start();
        }).onFailure(ctx::fail);
    }

    private static final class BadSubmission extends Exception {
        BadSubmission(String message) {
            super(message);
        }
    }
}
