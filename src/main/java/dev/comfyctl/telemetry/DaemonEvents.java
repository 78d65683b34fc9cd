package dev.comfyctl.telemetry;

import dev.comfyctl.config.Config;
import dev.comfyctl.events.Event;
import dev.comfyctl.events.EventType;
import dev.comfyctl.events.Events;
import dev.comfyctl.gpu.GpuDetector;
import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.supervisor.InstanceState;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

import java.time.Clock;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The daemon's events, wired once: the event log, the webhooks fed from it, system status reports (at daemon
 * start and after every ComfyUI stop), {@code daemon_start} and {@code daemon_stop}, and
 * {@code GET /manager/events?since=1h&limit=100} for the manager page.
 */
public final class DaemonEvents implements AutoCloseable {
    public static final String ROUTE = "/manager/events";
    private static final int DEFAULT_LIMIT = 100;

    private final EventLog log;
    private final Webhooks webhooks;
    private final SystemStatus status;
    private final Clock clock;
    private final AtomicBoolean closed = new AtomicBoolean();

    private DaemonEvents(EventLog log, Webhooks webhooks, SystemStatus status, Clock clock) {
        this.log = log;
        this.webhooks = webhooks;
        this.status = status;
        this.clock = clock;
    }

    /** Opens the event log, starts the webhooks and records {@code daemon_start} with {@code message}. */
    public static DaemonEvents start(Config config, GpuDetector gpus, String message, Map<String, Object> fields) {
        Clock clock = Clock.systemUTC();
        EventLog log = EventLog.open(config.home(), config.eventLogMaxBytes(), clock);
        Webhooks webhooks = Webhooks.start(config.webhookUrls(), config.webhookEvents(), Webhooks.Retry.DEFAULT, clock);
        log.subscribe(webhooks::accept);
        DaemonEvents events = new DaemonEvents(log, webhooks, new SystemStatus(config.comfyDir(), gpus, log), clock);
        log.record(EventType.DAEMON_START, Event.DAEMON, message, fields);
        events.status.report("daemon started");
        return events;
    }

    public Events events() {
        return log;
    }

    /** Reports the system status each time the instance has stopped, to show what its process left behind. */
    public void watch(ComfyInstance instance) {
        instance.addListener((name, from, to, reason) -> {
            if (from == InstanceState.STOPPING && to == InstanceState.STOPPED) {
                status.report(name + " stopped");
            }
        });
    }

    public void mount(Router router) {
        router.get(ROUTE).handler(this::list);
    }

    private void list(RoutingContext ctx) {
        Instant since;
        int limit;
        try {
            String sinceParam = ctx.request().getParam("since");
            since = sinceParam == null ? Instant.EPOCH : Since.parse(sinceParam, clock);
            String limitParam = ctx.request().getParam("limit");
            limit = limitParam == null ? DEFAULT_LIMIT : Integer.parseInt(limitParam);
            if (limit < 0) {
                throw new IllegalArgumentException("limit must be 0 or more");
            }
        } catch (IllegalArgumentException e) {
            ctx.response().setStatusCode(400).putHeader("Content-Type", "application/json")
                    .end(new JsonObject().put("error", e.getMessage()).encode());
            return;
        }
        ctx.vertx().executeBlocking(() -> EventFile.read(log.file().getParent(), since, limit)).onComplete(read -> {
            if (read.failed()) {
                ctx.fail(read.cause());
                return;
            }
            JsonArray events = new JsonArray();
            read.result().events().forEach(event -> events.add(new JsonObject(EventJson.line(event))));
            ctx.response().putHeader("Content-Type", "application/json")
                    .end(new JsonObject().put("events", events).put("skipped", read.result().skipped()).encode());
        });
    }

    /** Records {@code daemon_stop}, writes what is queued and gives the webhooks a few seconds; idempotent. */
    @Override
    public void close() {
        if (closed.getAndSet(true)) {
            return;
        }
        status.close();
        log.record(EventType.DAEMON_STOP, Event.DAEMON, "comfyctl daemon stopped", Map.of());
        log.close();
        webhooks.close();
    }
}
