package dev.comfyctl.web;

import dev.comfyctl.events.Events;
import dev.comfyctl.install.ComfyUiUpdate;
import dev.comfyctl.install.UpdateException;
import dev.comfyctl.install.UpdateSettings;
import io.vertx.core.Context;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@code POST /manager/update[?version=TAG|COMMIT][&rollback=true]}: moves ComfyUI to another version with the
 * daemon's instances drained and restarted (see {@link ComfyUiUpdate}). Like {@code /manager/start}, it answers one
 * JSON object, or with {@code Accept: application/x-ndjson} one line per step as it happens and then the result.
 * One update at a time: another one meanwhile is 409.
 */
public final class UpdateRoutes {
    private static final Logger log = LoggerFactory.getLogger(UpdateRoutes.class);

    private final UpdateSettings settings;
    private final List<ComfyUiUpdate.Supervised> instances;
    private final Events events;
    private final AtomicBoolean updating = new AtomicBoolean();

    public UpdateRoutes(UpdateSettings settings, List<ComfyUiUpdate.Supervised> instances, Events events) {
        this.settings = settings;
        this.instances = List.copyOf(instances);
        this.events = events;
    }

    public void mount(Router router) {
        router.post("/manager/update").handler(this::update);
    }

    private void update(RoutingContext ctx) {
        Optional<String> version = Optional.ofNullable(ctx.request().getParam("version")).filter(v -> !v.isBlank());
        boolean rollback = Boolean.parseBoolean(ctx.request().getParam("rollback"));
        if (version.isPresent() && rollback) {
            ControlRoutes.json(ctx.response(), 400, result(false).put("error", "give either version or rollback, not both"));
            return;
        }
        if (!updating.compareAndSet(false, true)) {
            ControlRoutes.json(ctx.response(), 409, result(false).put("error", "an update is already under way; wait for it"
                    + " to finish ('comfyctl events -f' shows its steps)"));
            return;
        }
        HttpServerResponse response = ctx.response();
        Context context = ctx.vertx().getOrCreateContext();
        boolean stream = String.valueOf(ctx.request().getHeader("Accept")).contains(ControlRoutes.NDJSON);
        if (stream) {
            response.setChunked(true).putHeader("Content-Type", ControlRoutes.NDJSON).setStatusCode(200);
        }
        ComfyUiUpdate update = ComfyUiUpdate.create(settings, instances, events, progress -> {
            if (stream) {
                context.runOnContext(v -> write(response, step(progress)));
            }
        });
        // Git and pip may take minutes: on a thread of its own, not on a worker the event loop's checker watches.
        Thread worker = new Thread(() -> {
            JsonObject result;
            try {
                ComfyUiUpdate.Result done = update.run(new ComfyUiUpdate.Request(version, rollback));
                result = result(true).put("from", done.from()).put("to", done.to()).put("changed", done.changed())
                        .put("restarted", done.restarted()).put("summary", done.summary());
            } catch (UpdateException e) {
                result = result(false).put("error", e.getMessage()).put("logTail", new JsonArray(e.outputTail()));
            } catch (RuntimeException e) {
                log.error("Unexpected failure of the update", e);
                result = result(false).put("error", "unexpected failure: " + e);
            } finally {
                updating.set(false);
            }
            JsonObject answer = result;
            context.runOnContext(v -> {
                if (stream) {
                    write(response, answer);
                    response.end();
                } else {
                    ControlRoutes.json(response, answer.getBoolean("ok") ? 200 : 500, answer);
                }
            });
        }, "comfyui-update");
        worker.setDaemon(true);
        worker.start();
    }

    private static JsonObject result(boolean ok) {
        return new JsonObject().put("type", "result").put("ok", ok);
    }

    private static JsonObject step(ComfyUiUpdate.Progress progress) {
        return new JsonObject().put("type", "step").put("step", progress.number()).put("title", progress.title())
                .put("outcome", progress.outcome().name()).put("message", progress.message());
    }

    private static void write(HttpServerResponse response, JsonObject line) {
        if (!response.closed()) {
            response.write(line.encode() + "\n");
        }
    }
}
