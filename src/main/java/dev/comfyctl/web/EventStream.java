package dev.comfyctl.web;

import dev.comfyctl.process.SessionLogs;
import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.supervisor.InstanceListener;
import dev.comfyctl.supervisor.InstanceState;
import dev.comfyctl.supervisor.StepEvent;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * The server-sent events behind the manager page, shared by all its clients: {@code status} (the same JSON
 * as {@code GET /manager/status}) on connect, on every state change and every couple of seconds;
 * {@code event} for each state transition (the last {@value #HISTORY} are replayed to a new client);
 * {@code step} for each start step; {@code log} for session log lines.
 *
 * <p>A verticle, so all its state lives on one event loop and undeploying it (when Vert.x closes) releases
 * everything. The status timer, the heartbeat and the log follower run only while a client is connected:
 * status is computed once per tick for all clients, because it calls ComfyUI and nvidia-smi.
 */
final class EventStream extends VerticleBase {
    static final int HISTORY = 50;
    static final int LOG_LINES = 200;
    private static final Logger log = LoggerFactory.getLogger(EventStream.class);

    private final List<ComfyInstance> instances;
    private final Callable<JsonObject> status;
    private final SessionLogs logs;
    private final Duration statusInterval;
    private final Duration heartbeatInterval;
    private final Deque<JsonObject> history = new ArrayDeque<>();
    private final Deque<String> logTail = new ArrayDeque<>();
    private final Set<SseClient> clients = new LinkedHashSet<>();
    private String logFile;
    private boolean refreshing;
    private boolean refreshAgain;
    private volatile int clientCount;
    private volatile long statusTimer = -1;
    private volatile long heartbeatTimer = -1;
    private volatile LogPump pump;

    EventStream(ComfyInstance instance, Callable<JsonObject> status, SessionLogs logs, Duration statusInterval,
                Duration heartbeatInterval) {
        this(List.of(instance), status, logs, statusInterval, heartbeatInterval);
    }

    /** @param logs the session logs whose tail the page shows: the first instance's */
    EventStream(List<ComfyInstance> instances, Callable<JsonObject> status, SessionLogs logs, Duration statusInterval,
                Duration heartbeatInterval) {
        this.instances = List.copyOf(instances);
        this.status = status;
        this.logs = logs;
        this.statusInterval = statusInterval;
        this.heartbeatInterval = heartbeatInterval;
    }

    @Override
    public Future<?> start() {
        InstanceListener listener = new InstanceListener() {
            @Override
            public void stateChanged(String name, InstanceState from, InstanceState to, String reason) {
                Instant at = Instant.now();
                context.runOnContext(v -> transition(new JsonObject().put("at", at.toString()).put("instance", name)
                        .put("from", from.name()).put("to", to.name()).put("reason", reason)));
            }

            @Override
            public void stepHappened(String name, StepEvent event) {
                context.runOnContext(v -> broadcast("step", ControlRoutes.stepJson(event).put("instance", name)));
            }
        };
        instances.forEach(instance -> instance.addListener(listener));
        return Future.succeededFuture();
    }

    @Override
    public Future<?> stop() {
        stopSharing();
        return Future.succeededFuture();
    }

    /**
     * Streams events to {@code response} until the client goes away; callable from any thread.
     *
     * @param connection the context of the response's connection, where its writes belong
     */
    void connect(HttpServerResponse response, Context connection) {
        SseClient client = new SseClient(response, connection);
        response.closeHandler(v -> context.runOnContext(x -> leave(client)));
        context.runOnContext(v -> {
            client.open();
            context.executeBlocking(status, false).onComplete(result -> {
                if (client.closed()) {
                    return;
                }
                if (result.succeeded()) {
                    client.send("status", result.result());
                } else {
                    log.warn("Cannot compute the status for a new events client: {}", result.cause().toString());
                }
                history.forEach(event -> client.send("event", event));
                if (logFile != null) {
                    client.send("log", logJson(true, List.copyOf(logTail)));
                }
                join(client);
            });
        });
    }

    private void join(SseClient client) {
        clients.add(client);
        clientCount = clients.size();
        if (clients.size() == 1) {
            statusTimer = vertx.setPeriodic(statusInterval.toMillis(), id -> refreshStatus());
            heartbeatTimer = vertx.setPeriodic(heartbeatInterval.toMillis(), id -> clients.forEach(SseClient::heartbeat));
            pump = LogPump.start(logs, LOG_LINES, context, this::logEntries);
        }
    }

    private void leave(SseClient client) {
        if (clients.remove(client)) {
            clientCount = clients.size();
            if (clients.isEmpty()) {
                stopSharing();
            }
        }
    }

    private void stopSharing() {
        vertx.cancelTimer(statusTimer);
        vertx.cancelTimer(heartbeatTimer);
        statusTimer = -1;
        heartbeatTimer = -1;
        if (pump != null) {
            pump.close();
            pump = null;
        }
        // The next follower starts by sending the tail again.
        logFile = null;
        logTail.clear();
    }

    private void transition(JsonObject event) {
        history.addLast(event);
        if (history.size() > HISTORY) {
            history.removeFirst();
        }
        broadcast("event", event);
        refreshStatus();
    }

    /** Computes the status once for all clients; a request during a computation runs once more after it. */
    private void refreshStatus() {
        if (clients.isEmpty()) {
            return;
        }
        if (refreshing) {
            refreshAgain = true;
            return;
        }
        refreshing = true;
        context.executeBlocking(status, false).onComplete(result -> {
            refreshing = false;
            if (result.succeeded()) {
                broadcast("status", result.result());
            } else {
                log.warn("Cannot compute the status for the manager page: {}", result.cause().toString());
            }
            if (refreshAgain) {
                refreshAgain = false;
                refreshStatus();
            }
        });
    }

    private void logEntries(List<LogPump.Entry> entries) {
        List<String> lines = new ArrayList<>();
        for (LogPump.Entry entry : entries) {
            if (entry.newFile()) {
                publishLines(lines);
                lines = new ArrayList<>();
                logFile = entry.text();
                logTail.clear();
                broadcast("log", logJson(true, List.of()));
            } else {
                lines.add(entry.text());
            }
        }
        publishLines(lines);
    }

    private void publishLines(List<String> lines) {
        if (lines.isEmpty()) {
            return;
        }
        for (String line : lines) {
            logTail.addLast(line);
            if (logTail.size() > LOG_LINES) {
                logTail.removeFirst();
            }
        }
        broadcast("log", logJson(false, lines));
    }

    private JsonObject logJson(boolean reset, List<String> lines) {
        return new JsonObject().put("file", logFile).put("reset", reset).put("lines", new JsonArray(lines));
    }

    private void broadcast(String event, JsonObject data) {
        clients.forEach(client -> client.send(event, data));
    }

    int clientCount() {
        return clientCount;
    }

    /** Whether a timer or the log follower is running: only while a client is connected. */
    boolean holdsResources() {
        return statusTimer != -1 || heartbeatTimer != -1 || pump != null;
    }
}
