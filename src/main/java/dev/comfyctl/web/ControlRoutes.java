package dev.comfyctl.web;

import dev.comfyctl.comfy.ComfyClient;
import dev.comfyctl.comfy.Health;
import dev.comfyctl.comfy.QueueStatus;
import dev.comfyctl.gpu.GpuDetector;
import dev.comfyctl.gpu.GpuReport;
import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.supervisor.IdleStopper;
import dev.comfyctl.supervisor.InstanceSnapshot;
import dev.comfyctl.supervisor.StartFailedException;
import dev.comfyctl.supervisor.StartOutcome;
import dev.comfyctl.supervisor.StepEvent;
import dev.comfyctl.supervisor.StopOutcome;
import dev.comfyctl.telemetry.StartupSteps;
import io.vertx.core.Context;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * The daemon's control API, on comfyctl's own exact paths only (ComfyUI-Manager owns the rest of
 * {@code /manager/...}): {@code GET /manager/status}, {@code POST /manager/start|stop|restart}.
 *
 * <p>Start and restart answer one JSON object, or, when the client accepts {@code application/x-ndjson},
 * one line per start step as it happens and then the result line, so the CLI can print progress live.
 */
public final class ControlRoutes {
    static final String NDJSON = "application/x-ndjson";

    private final ComfyInstance instance;
    private final IdleStopper idle;
    private final ComfyClient client;
    private final GpuDetector gpuDetector;
    private final JsonObject daemon;
    private final StartupSteps steps;

    public ControlRoutes(ComfyInstance instance, IdleStopper idle, ComfyClient client, GpuDetector gpuDetector, JsonObject daemon,
                         StartupSteps steps) {
        this.instance = instance;
        this.idle = idle;
        this.client = client;
        this.gpuDetector = gpuDetector;
        this.daemon = daemon;
        this.steps = steps;
    }

    public void mount(Router router) {
        router.get("/manager/status").handler(this::status);
        router.post("/manager/start").handler(ctx -> lifecycle(ctx, instance::start, ControlRoutes::started));
        router.post("/manager/restart").handler(ctx -> lifecycle(ctx, instance::restart, ControlRoutes::started));
        router.post("/manager/stop").handler(ctx -> lifecycle(ctx, progress -> instance.stop(), ControlRoutes::stopped));
    }

    private void status(RoutingContext ctx) {
        ctx.vertx().executeBlocking(this::statusJson, false)
                .onSuccess(json -> json(ctx.response(), 200, json))
                .onFailure(ctx::fail);
    }

    JsonObject statusJson() {
        InstanceSnapshot snapshot = instance.snapshot();
        JsonObject json = snapshotJson(snapshot);
        JsonObject idleJson = new JsonObject().put("timeoutSeconds", idle.timeout().toSeconds())
                .put("lastActivity", idle.lastActivity().toString()).put("idleStops", idle.idleStops());
        idle.remaining().ifPresent(left -> idleJson.put("stopsInSeconds", left.toSeconds()));
        json.put("idle", idleJson);
        if (snapshot.state().hasProcess()) {
            Health health = client.health();
            json.put("health", new JsonObject().put("ok", health.ok()).put("latencyMs", health.latency().toMillis())
                    .put("error", health.ok() ? null : health.error()));
            if (health.ok()) {
                try {
                    QueueStatus queue = client.queue();
                    json.put("queue", new JsonObject().put("running", queue.runningCount()).put("pending", queue.pendingCount()));
                } catch (RuntimeException e) {
                    json.put("queue", new JsonObject().put("error", e.getMessage()));
                }
            }
        }
        GpuReport gpus = gpuDetector.detect();
        JsonArray gpuJson = new JsonArray();
        gpus.gpus().forEach(gpu -> gpuJson.add(new JsonObject().put("index", gpu.index()).put("name", gpu.name())
                .put("vramTotalMib", gpu.vramTotalMib()).put("vramUsedMib", gpu.vramTotalMib() - gpu.vramFreeMib())
                .put("driver", gpu.driverVersion())));
        JsonObject status = new JsonObject()
                .put("daemon", daemon.copy().put("uptimeSeconds",
                        Duration.between(Instant.parse(daemon.getString("startedAt")), Instant.now()).toSeconds()))
                .put("steps", HealthRoutes.stepsJson(steps.list()))
                .put("instances", new JsonArray().add(json))
                .put("gpus", gpuJson);
        gpus.warning().ifPresent(warning -> status.put("gpuWarning", warning));
        return status;
    }

    static JsonObject snapshotJson(InstanceSnapshot snapshot) {
        JsonObject json = new JsonObject()
                .put("name", snapshot.name())
                .put("state", snapshot.state().name())
                .put("port", snapshot.port())
                .put("consecutiveCrashes", snapshot.consecutiveCrashes());
        snapshot.pid().ifPresent(pid -> json.put("pid", pid));
        snapshot.startedAt().ifPresent(at -> json.put("startedAt", at.toString()));
        snapshot.readyAt().ifPresent(at -> json.put("readyAt", at.toString())
                .put("uptimeSeconds", Duration.between(at, Instant.now()).toSeconds()));
        snapshot.sessionLog().ifPresent(log -> json.put("sessionLog", log.toString()));
        snapshot.lastError().ifPresent(error -> json.put("lastError", error));
        if (!snapshot.lastFailureLogTail().isEmpty()) {
            json.put("lastFailureLogTail", new JsonArray(snapshot.lastFailureLogTail()));
        }
        snapshot.restartScheduledAt().ifPresent(at -> json.put("restartScheduledAt", at.toString()));
        JsonArray steps = new JsonArray();
        snapshot.steps().forEach(step -> steps.add(stepJson(step)));
        return json.put("steps", steps);
    }

    static JsonObject stepJson(StepEvent event) {
        return new JsonObject().put("type", "step").put("step", event.step().number()).put("title", event.step().title())
                .put("outcome", event.outcome().name()).put("message", event.message()).put("at", event.at().toString());
    }

    private static JsonObject started(StartOutcome outcome) {
        return new JsonObject().put("type", "result").put("ok", true).put("alreadyRunning", outcome.alreadyRunning())
                .put("pid", outcome.pid()).put("timeToReadyMs", outcome.timeToReady().toMillis())
                .put("sessionLog", outcome.sessionLog() == null ? null : outcome.sessionLog().toString());
    }

    private static JsonObject stopped(StopOutcome outcome) {
        return new JsonObject().put("type", "result").put("ok", true).put("wasRunning", outcome.wasRunning())
                .put("forced", outcome.forced()).put("tookMs", outcome.took().toMillis())
                .put("signalled", new JsonArray(outcome.signalled()));
    }

    private static JsonObject failed(Throwable failure) {
        Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
        JsonObject json = new JsonObject().put("type", "result").put("ok", false).put("error", String.valueOf(cause.getMessage()));
        if (cause instanceof StartFailedException startFailure) {
            json.put("step", startFailure.step().number()).put("title", startFailure.step().title())
                    .put("logTail", new JsonArray(startFailure.logTail()));
        }
        return json;
    }

    private <T> void lifecycle(RoutingContext ctx, Function<Consumer<StepEvent>, CompletableFuture<T>> action,
                               Function<T, JsonObject> describe) {
        HttpServerResponse response = ctx.response();
        Context context = ctx.vertx().getOrCreateContext();
        boolean stream = String.valueOf(ctx.request().getHeader("Accept")).contains(NDJSON);
        if (stream) {
            response.setChunked(true).putHeader("Content-Type", NDJSON).setStatusCode(200);
        }
        Consumer<StepEvent> progress = stream
                ? event -> context.runOnContext(v -> write(response, stepJson(event)))
                : event -> { };
        action.apply(progress).whenComplete((value, failure) -> context.runOnContext(v -> {
            JsonObject result = failure == null ? describe.apply(value) : failed(failure);
            if (stream) {
                write(response, result);
                response.end();
            } else {
                json(response, failure == null ? 200 : 500, result);
            }
        }));
    }

    private static void write(HttpServerResponse response, JsonObject line) {
        if (!response.closed()) {
            response.write(line.encode() + "\n");
        }
    }

    static void json(HttpServerResponse response, int status, JsonObject body) {
        if (!response.closed()) {
            response.setStatusCode(status).putHeader("Content-Type", "application/json").end(body.encode());
        }
    }
}
