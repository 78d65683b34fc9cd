package dev.comfyctl.web;

import dev.comfyctl.comfy.ComfyClient;
import dev.comfyctl.comfy.Health;
import dev.comfyctl.comfy.QueueStatus;
import dev.comfyctl.gpu.GpuDetector;
import dev.comfyctl.gpu.GpuReport;
import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.supervisor.IdleStopper;
import dev.comfyctl.supervisor.InstanceSnapshot;
import dev.comfyctl.supervisor.InstanceState;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * The daemon's control API, on comfyctl's own exact paths only (ComfyUI-Manager owns the rest of
 * {@code /manager/...}): {@code GET /manager/status}, {@code POST /manager/start|stop|restart}.
 *
 * <p>Start and restart answer one JSON object, or, when the client accepts {@code application/x-ndjson},
 * one line per start step as it happens and then the result line, so the CLI can print progress live.
 *
 * <p>With several instances the actions apply to all of them (start and stop at once, restart one after
 * another so the others keep serving), or to one with {@code ?instance=NAME}; the result line then holds
 * {@code instances}, one result per instance, and each step line names its instance.
 */
public final class ControlRoutes {
    static final String NDJSON = "application/x-ndjson";

    private final List<ComfyInstance> instances;
    private final Map<ComfyInstance, IdleStopper> idle;
    private final Map<ComfyInstance, AtomicInteger> starts = new ConcurrentHashMap<>();
    private final GpuDetector gpuDetector;
    private final JsonObject daemon;
    private final StartupSteps steps;

    /** @param instances every instance with its idle stopper, in the order status lists them (a LinkedHashMap) */
    public ControlRoutes(Map<ComfyInstance, IdleStopper> instances, GpuDetector gpuDetector, JsonObject daemon,
                         StartupSteps steps) {
        this.instances = List.copyOf(instances.keySet());
        this.idle = Map.copyOf(instances);
        this.gpuDetector = gpuDetector;
        this.daemon = daemon;
        this.steps = steps;
        for (ComfyInstance instance : this.instances) {
            AtomicInteger count = new AtomicInteger();
            starts.put(instance, count);
            instance.addListener((name, from, to, reason) -> {
                if (to == InstanceState.STARTING) {
                    count.incrementAndGet();
                }
            });
        }
    }

    public void mount(Router router) {
        router.get("/manager/status").handler(this::status);
        router.post("/manager/start").handler(ctx -> lifecycle(ctx, Together.AT_ONCE, ComfyInstance::start, ControlRoutes::started));
        router.post("/manager/restart").handler(ctx -> lifecycle(ctx, Together.ONE_AFTER_ANOTHER, ComfyInstance::restart,
                ControlRoutes::started));
        router.post("/manager/stop").handler(ctx -> lifecycle(ctx, Together.AT_ONCE, (instance, progress) -> instance.stop(),
                ControlRoutes::stopped));
    }

    /** How an action on several instances runs. */
    private enum Together { AT_ONCE, ONE_AFTER_ANOTHER }

    private void status(RoutingContext ctx) {
        ctx.vertx().executeBlocking(this::statusJson, false)
                .onSuccess(json -> json(ctx.response(), 200, json))
                .onFailure(ctx::fail);
    }

    JsonObject statusJson() {
        JsonArray instancesJson = new JsonArray();
        instances.forEach(instance -> instancesJson.add(instanceJson(instance)));
        GpuReport gpus = gpuDetector.detect();
        JsonArray gpuJson = new JsonArray();
        gpus.gpus().forEach(gpu -> gpuJson.add(new JsonObject().put("index", gpu.index()).put("name", gpu.name())
                .put("vramTotalMib", gpu.vramTotalMib()).put("vramUsedMib", gpu.vramTotalMib() - gpu.vramFreeMib())
                .put("driver", gpu.driverVersion())));
        JsonObject status = new JsonObject()
                .put("daemon", daemon.copy().put("uptimeSeconds",
                        Duration.between(Instant.parse(daemon.getString("startedAt")), Instant.now()).toSeconds()))
                .put("steps", HealthRoutes.stepsJson(steps.list()))
                .put("instances", instancesJson)
                .put("gpus", gpuJson);
        gpus.warning().ifPresent(warning -> status.put("gpuWarning", warning));
        return status;
    }

    private JsonObject instanceJson(ComfyInstance instance) {
        InstanceSnapshot snapshot = instance.snapshot();
        JsonObject json = snapshotJson(snapshot);
        json.put("gpuIndex", instance.spec().gpuIndex().isPresent() ? instance.spec().gpuIndex().getAsInt() : null)
                .put("restarts", Math.max(0, starts.get(instance).get() - 1));
        IdleStopper stopper = idle.get(instance);
        JsonObject idleJson = new JsonObject().put("timeoutSeconds", stopper.timeout().toSeconds())
                .put("lastActivity", stopper.lastActivity().toString()).put("idleStops", stopper.idleStops());
        stopper.remaining().ifPresent(left -> idleJson.put("stopsInSeconds", left.toSeconds()));
        json.put("idle", idleJson);
        if (snapshot.state().hasProcess()) {
            ComfyClient client = instance.spec().client();
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
        return json;
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

    private <T> void lifecycle(RoutingContext ctx, Together together,
                               BiFunction<ComfyInstance, Consumer<StepEvent>, CompletableFuture<T>> action,
                               Function<T, JsonObject> describe) {
        HttpServerResponse response = ctx.response();
        String wanted = ctx.request().getParam("instance");
        List<ComfyInstance> targets = wanted == null ? instances
                : instances.stream().filter(instance -> instance.name().equals(wanted)).toList();
        if (targets.isEmpty()) {
            json(response, 404, new JsonObject().put("type", "result").put("ok", false)
                    .put("error", "no instance named '" + wanted + "'; the instances are " + String.join(", ", names())
                            + " (see 'comfyctl status')")
                    .put("validInstances", new JsonArray(names())));
            return;
        }
        Context context = ctx.vertx().getOrCreateContext();
        boolean stream = String.valueOf(ctx.request().getHeader("Accept")).contains(NDJSON);
        if (stream) {
            response.setChunked(true).putHeader("Content-Type", NDJSON).setStatusCode(200);
        }
        boolean several = targets.size() > 1;
        Function<ComfyInstance, CompletableFuture<JsonObject>> one = instance -> {
            Consumer<StepEvent> progress = stream
                    ? event -> context.runOnContext(v -> write(response, several ? stepJson(event).put("instance", instance.name()) : stepJson(event)))
                    : event -> { };
            return action.apply(instance, progress).handle((value, failure) -> failure == null ? describe.apply(value) : failed(failure));
        };
        CompletableFuture<JsonObject> done = several ? all(targets, together, one).thenApply(ControlRoutes::combined)
                : one.apply(targets.get(0));
        done.whenComplete((result, unexpected) -> context.runOnContext(v -> {
            JsonObject line = unexpected == null ? result : failed(unexpected);
            if (stream) {
                write(response, line);
                response.end();
            } else {
                json(response, line.getBoolean("ok") ? 200 : 500, line);
            }
        }));
    }

    private List<String> names() {
        return instances.stream().map(ComfyInstance::name).toList();
    }

    /** Each target's result, named, in the targets' order. */
    private static CompletableFuture<List<JsonObject>> all(List<ComfyInstance> targets, Together together,
                                                          Function<ComfyInstance, CompletableFuture<JsonObject>> one) {
        Function<ComfyInstance, CompletableFuture<JsonObject>> named = instance -> one.apply(instance)
                .thenApply(result -> result.put("instance", instance.name()));
        if (together == Together.AT_ONCE) {
            List<CompletableFuture<JsonObject>> results = targets.stream().map(named).toList();
            return CompletableFuture.allOf(results.toArray(CompletableFuture[]::new))
                    .thenApply(v -> results.stream().map(CompletableFuture::join).toList());
        }
        CompletableFuture<List<JsonObject>> chain = CompletableFuture.completedFuture(new ArrayList<>());
        for (ComfyInstance instance : targets) {
            chain = chain.thenCompose(results -> named.apply(instance).thenApply(result -> {
                results.add(result);
                return results;
            }));
        }
        return chain;
    }

    /** One result line for several instances: ok when all are, else the first failure's details. */
    private static JsonObject combined(List<JsonObject> results) {
        JsonObject line = new JsonObject().put("type", "result").put("instances", new JsonArray(new ArrayList<>(results)));
        Optional<JsonObject> failure = results.stream().filter(result -> !result.getBoolean("ok")).findFirst();
        line.put("ok", failure.isEmpty());
        failure.ifPresent(f -> {
            line.put("error", f.getString("instance") + ": " + f.getString("error"));
            for (String key : List.of("step", "title", "logTail")) {
                if (f.containsKey(key)) {
                    line.put(key, f.getValue(key));
                }
            }
        });
        return line;
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
