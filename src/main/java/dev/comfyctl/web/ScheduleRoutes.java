package dev.comfyctl.web;

import dev.comfyctl.config.Config;
import dev.comfyctl.gpu.GpuDetector;
import dev.comfyctl.schedule.RestartScheduler;
import dev.comfyctl.schedule.SystemFigures;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

import java.time.Duration;
import java.time.Instant;

/**
 * The restart schedule on comfyctl's own paths: {@code GET /manager/schedule},
 * {@code POST /manager/schedule/enable|disable|force-restart[?waitForQueue=true]}.
 */
public final class ScheduleRoutes {
    private final RestartScheduler scheduler;
    private final GpuDetector gpus;
    private final Config config;

    public ScheduleRoutes(RestartScheduler scheduler, GpuDetector gpus, Config config) {
        this.scheduler = scheduler;
        this.gpus = gpus;
        this.config = config;
    }

    public void mount(Router router) {
        router.get("/manager/schedule").handler(this::status);
        router.post("/manager/schedule/enable").handler(ctx -> change(ctx, true));
        router.post("/manager/schedule/disable").handler(ctx -> change(ctx, false));
        router.post("/manager/schedule/force-restart").handler(this::forceRestart);
    }

    private void status(RoutingContext ctx) {
        ctx.vertx().executeBlocking(this::statusJson, false)
                .onSuccess(json -> ControlRoutes.json(ctx.response(), 200, json))
                .onFailure(ctx::fail);
    }

    private JsonObject statusJson() {
        RestartScheduler.Status status = scheduler.status();
        JsonObject json = new JsonObject().put("enabled", status.enabled()).put("intervalSeconds", status.interval().toSeconds())
                .put("restarting", status.restarting());
        status.nextRestart().ifPresent(next -> json.put("nextRestart", next.toString())
                .put("remainingSeconds", Math.max(0, Duration.between(Instant.now(), next).toSeconds())));
        status.lastRestart().ifPresent(last -> json.put("lastRestart", last.toString()));
        status.lastOutcome().ifPresent(outcome -> json.put("lastOutcome", outcome));
        SystemFigures figures = SystemFigures.read(config.comfyDir(), gpus.detect());
        JsonArray vram = new JsonArray();
        figures.vram().forEach(v -> vram.add(new JsonObject().put("gpu", v.gpu()).put("name", v.name())
                .put("totalMib", v.totalMib()).put("usedMib", v.usedMib())));
        return json.put("system", new JsonObject().put("memoryTotal", figures.memoryTotal()).put("memoryUsed", figures.memoryUsed())
                .put("diskTotal", figures.diskTotal()).put("diskUsed", figures.diskUsed()).put("vram", vram)
                .put("summary", figures.describe()));
    }

    private void change(RoutingContext ctx, boolean enable) {
        try {
            if (enable) {
                scheduler.enable();
            } else {
                scheduler.disable();
            }
            status(ctx);
        } catch (IllegalStateException e) {
            ControlRoutes.json(ctx.response(), 409, new JsonObject().put("error", e.getMessage()));
        }
    }

    private void forceRestart(RoutingContext ctx) {
        boolean waitForQueue = Boolean.parseBoolean(ctx.request().getParam("waitForQueue", "false"));
        scheduler.forceRestart(waitForQueue).whenComplete((outcome, failure) -> ctx.vertx().runOnContext(v -> {
            if (failure == null) {
                ControlRoutes.json(ctx.response(), 200, new JsonObject().put("ok", true).put("outcome", outcome));
            } else {
                ControlRoutes.json(ctx.response(), 500, new JsonObject().put("ok", false).put("error", String.valueOf(failure.getMessage())));
            }
        }));
    }
}
