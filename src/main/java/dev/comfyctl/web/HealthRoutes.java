package dev.comfyctl.web;

import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.supervisor.InstanceSnapshot;
import dev.comfyctl.supervisor.InstanceState;
import dev.comfyctl.telemetry.StartupSteps;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

import java.util.List;

/**
 * Probes and the startup at a glance, on the health port and on the manager port:
 * {@code GET /health} is 200 while the daemon runs (liveness); {@code GET /ready} is 200 only when every
 * instance is READY, else 503 naming those that are not (readiness); {@code GET /status} lists every startup
 * step with its state, duration and error, and the instances, so "which step failed" is one request away.
 */
public final class HealthRoutes {
    static final List<String> PATHS = List.of("/health", "/ready", "/status");

    private final List<ComfyInstance> instances;
    private final StartupSteps steps;

    public HealthRoutes(List<ComfyInstance> instances, StartupSteps steps) {
        this.instances = List.copyOf(instances);
        this.steps = steps;
    }

    public void mount(Router router) {
        router.get("/health").handler(ctx -> ControlRoutes.json(ctx.response(), 200, new JsonObject().put("status", "alive")));
        router.get("/ready").handler(this::ready);
        router.get("/status").handler(this::status);
    }

    private void ready(RoutingContext ctx) {
        JsonArray notReady = new JsonArray();
        for (ComfyInstance instance : instances) {
            InstanceSnapshot snapshot = instance.snapshot();
            if (snapshot.state() != InstanceState.READY) {
                JsonObject entry = new JsonObject().put("name", snapshot.name()).put("state", snapshot.state().name());
                snapshot.lastError().ifPresent(error -> entry.put("lastError", error));
                notReady.add(entry);
            }
        }
        boolean ready = notReady.isEmpty() && !instances.isEmpty();
        JsonObject body = new JsonObject().put("ready", ready).put("instances", instances.size());
        if (!ready) {
            body.put("notReady", notReady);
        }
        ControlRoutes.json(ctx.response(), ready ? 200 : 503, body);
    }

    private void status(RoutingContext ctx) {
        JsonArray instanceJson = new JsonArray();
        boolean ready = !instances.isEmpty();
        for (ComfyInstance instance : instances) {
            InstanceSnapshot snapshot = instance.snapshot();
            ready &= snapshot.state() == InstanceState.READY;
            instanceJson.add(ControlRoutes.snapshotJson(snapshot));
        }
        ControlRoutes.json(ctx.response(), 200, new JsonObject().put("ready", ready)
                .put("steps", stepsJson(steps.list())).put("instances", instanceJson));
    }

    /** The startup steps as JSON, for {@code /status} and {@code /manager/status}. */
    static JsonArray stepsJson(List<StartupSteps.Step> steps) {
        JsonArray json = new JsonArray();
        for (StartupSteps.Step step : steps) {
            JsonObject entry = new JsonObject().put("number", step.number()).put("name", step.name())
                    .put("phase", step.phase().attribute()).put("span", step.span()).put("state", step.state().name())
                    .put("startedAt", step.startedAt().toString());
            step.duration().ifPresent(duration -> entry.put("durationMs", duration.toMillis()));
            step.detail().ifPresent(detail -> entry.put("detail", detail));
            step.errorType().ifPresent(type -> entry.put("errorType", type));
            step.error().ifPresent(error -> entry.put("error", error));
            json.add(entry);
        }
        return json;
    }
}
