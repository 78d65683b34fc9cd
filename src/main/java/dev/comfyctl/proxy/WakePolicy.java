package dev.comfyctl.proxy;

import dev.comfyctl.events.EventType;
import dev.comfyctl.events.Events;
import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.supervisor.IdleStopper;
import dev.comfyctl.supervisor.InstanceSnapshot;
import dev.comfyctl.supervisor.InstanceState;
import dev.comfyctl.supervisor.StepEvent;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Wake on request: a request for a stopped ComfyUI starts it (one start, however many requests arrive
 * together) and waits up to the startup wait; past that a browser gets a page that shows the start live and
 * reloads itself, an API client 503 with {@code Retry-After}. Passive requests ({@link PassiveRequests}:
 * a forgotten tab's WebSocket reconnects and polling) never wake it and never count as activity; every other
 * request, and every message a client sends over a WebSocket, restarts the idle clock. Each wake is posted as an
 * event naming the request that caused it. After a start fails, requests get that failure at once for the cool-down
 * instead of each trying another start that would fail the same way; a start asked for by hand always tries.
 */
public final class WakePolicy implements ProxyPolicy {
    private static final int RETRY_AFTER_SECONDS = 5;

    private final Vertx vertx;
    private final ComfyInstance instance;
    private final IdleStopper idle;
    private final PassiveRequests passive;
    private final boolean wakeOnRequest;
    private final Duration startupWait;
    private final Duration failedCooldown;
    private final String startingPage;
    private final Events events;
    private final Set<Waiter> waiters = ConcurrentHashMap.newKeySet();
    private final AtomicBoolean waking = new AtomicBoolean();
    private final AtomicLong wakes = new AtomicLong();
    /** When the instance last became FAILED ({@link System#nanoTime()}); meaningful only while it is FAILED. */
    private volatile long failedAt;

    private record Waiter(Context context, Promise<Void> promise) {
    }

    public WakePolicy(Vertx vertx, ComfyInstance instance, IdleStopper idle, PassiveRequests passive,
                      boolean wakeOnRequest, Duration startupWait, Duration failedCooldown, Events events) {
        this.vertx = vertx;
        this.instance = instance;
        this.idle = idle;
        this.passive = passive;
        this.wakeOnRequest = wakeOnRequest;
        this.startupWait = startupWait;
        this.failedCooldown = failedCooldown;
        this.events = events;
        this.startingPage = resource("starting.html");
        instance.addListener((name, from, to, reason) -> {
            if (to == InstanceState.FAILED) {
                failedAt = System.nanoTime();
            }
            if (to == InstanceState.READY || to == InstanceState.FAILED) {
                settleWaiters();
            }
        });
    }

    /** How many times a request woke ComfyUI. */
    public long wakes() {
        return wakes.get();
    }

    @Override
    public Future<Void> admit(HttpServerRequest request) {
        boolean isPassive = passive.matches(request.method().name(), request.path(), ReverseProxy.isWebSocketUpgrade(request));
        if (!isPassive) {
            idle.activity();
        }
        InstanceState state = instance.state();
        if (state == InstanceState.READY) {
            return Future.succeededFuture();
        }
        // Stopping counts as asleep: a request then may start it again only if it could wake a stopped one. The web
        // UI's polling during the idle stop's few milliseconds started ComfyUI again.
        boolean asleep = state == InstanceState.STOPPED || state == InstanceState.FAILED || state == InstanceState.STOPPING;
        if (asleep && (isPassive || !wakeOnRequest)) {
            return Future.failedFuture(new RejectedException(asleep(request, isPassive)));
        }
        if (state == InstanceState.FAILED && coolingDown()) {
            return Future.failedFuture(new RejectedException(coolingDown(instance.snapshot(), cooldownLeft())));
        }
        Future<Void> ready = untilReady(request);
        if (asleep) {
            wake(request.method().name() + " " + request.path());
        }
        return ready;
    }

    @Override
    public boolean admitNow(String method, String path) {
        if (instance.state() != InstanceState.READY) {
            return false;
        }
        if (!passive.matches(method, path, false)) {
            idle.activity();
        }
        return true;
    }

    @Override
    public boolean canWake() {
        InstanceState state = instance.state();
        return wakeOnRequest && (state == InstanceState.STOPPED || state == InstanceState.FAILED && !coolingDown());
    }

    @Override
    public boolean isStarting() {
        return instance.state() == InstanceState.STARTING;
    }

    @Override
    public void wakeToShareLoad(String cause) {
        if (canWake()) {
            wake(cause);
        }
    }

    @Override
    public void webSocketTraffic() {
        idle.activity();
    }

    private void wake(String cause) {
        if (waking.compareAndSet(false, true)) {
            wakes.incrementAndGet();
            events.post(EventType.WAKE, instance.name(), "woken by " + cause, Map.of("request", cause));
            instance.start(event -> { }).whenComplete((outcome, failure) -> waking.set(false));
        }
    }

    private Future<Void> untilReady(HttpServerRequest request) {
        Context context = vertx.getOrCreateContext();
        Promise<Void> promise = Promise.promise();
        Waiter waiter = new Waiter(context, promise);
        waiters.add(waiter);
        long timer = vertx.setTimer(Math.max(1, startupWait.toMillis()), id -> {
            if (waiters.remove(waiter)) {
                promise.tryFail(new RejectedException(stillStarting(request)));
            }
        });
        if (instance.state() == InstanceState.READY && waiters.remove(waiter)) {
            promise.tryComplete();
        }
        return promise.future().andThen(done -> vertx.cancelTimer(timer));
    }

    /** On the lifecycle thread: every waiter learns the outcome on its own event loop. */
    private void settleWaiters() {
        for (Waiter waiter : List.copyOf(waiters)) {
            if (!waiters.remove(waiter)) {
                continue;
            }
            waiter.context().runOnContext(v -> {
                InstanceSnapshot snapshot = instance.snapshot();
                if (snapshot.state() == InstanceState.READY) {
                    waiter.promise().tryComplete();
                } else {
                    waiter.promise().tryFail(new RejectedException(startFailed(snapshot)));
                }
            });
        }
    }

    private Rejection asleep(HttpServerRequest request, boolean isPassive) {
        if (request.method() == HttpMethod.GET && request.path().equals("/") && !ReverseProxy.isWebSocketUpgrade(request)) {
            return new Rejection(302, MultiMap.caseInsensitiveMultiMap().add(HttpHeaders.LOCATION, "/manager"), "text/plain", "");
        }
        String why = isPassive
                ? "this request is passive (PASSIVE_REQUESTS): it does not wake ComfyUI"
                : "waking on request is off (WAKE_ON_REQUEST=false)";
        return json(503, new JsonObject().put("error", "ComfyUI is " + instance.state().name().toLowerCase()
                + " and " + why + "; start it from /manager or with 'comfyctl start'").put("state", instance.state().name()));
    }

    private Rejection stillStarting(HttpServerRequest request) {
        InstanceSnapshot snapshot = instance.snapshot();
        if (wantsHtml(request)) {
            return new Rejection(503, retryAfter(), "text/html; charset=utf-8", startingPage);
        }
        JsonObject body = new JsonObject().put("error", "ComfyUI is starting; retry in " + RETRY_AFTER_SECONDS + " s")
                .put("state", snapshot.state().name()).put("retryAfterSeconds", RETRY_AFTER_SECONDS);
        if (!snapshot.steps().isEmpty()) {
            StepEvent step = snapshot.steps().get(snapshot.steps().size() - 1);
            body.put("step", step.step().number()).put("stepTitle", step.step().title()).put("stepMessage", step.message());
        }
        return new Rejection(503, retryAfter(), "application/json", body.encode());
    }

    private Rejection startFailed(InstanceSnapshot snapshot) {
        JsonObject body = new JsonObject().put("error", "ComfyUI could not start: " + snapshot.lastError().orElse(snapshot.state().name()))
                .put("state", snapshot.state().name()).put("logTail", new JsonArray(snapshot.lastFailureLogTail()));
        return new Rejection(503, retryAfter(), "application/json", body.encode());
    }

    private boolean coolingDown() {
        Duration left = cooldownLeft();
        return !left.isNegative() && !left.isZero();
    }

    private Duration cooldownLeft() {
        return failedCooldown.minusNanos(System.nanoTime() - failedAt);
    }

    private Rejection coolingDown(InstanceSnapshot snapshot, Duration left) {
        long seconds = Math.max(1, (left.toMillis() + 999) / 1000);
        JsonObject body = new JsonObject().put("error", "ComfyUI could not start: " + snapshot.lastError().orElse("it failed")
                        + ". Requests do not try again for " + seconds + " s (WAKE_FAILED_COOLDOWN_SECONDS); fix the cause and"
                        + " start it from /manager or with 'comfyctl start'")
                .put("state", snapshot.state().name()).put("logTail", new JsonArray(snapshot.lastFailureLogTail()))
                .put("retryAfterSeconds", seconds);
        return new Rejection(503, MultiMap.caseInsensitiveMultiMap().add(HttpHeaders.RETRY_AFTER, Long.toString(seconds)),
                "application/json", body.encode());
    }

    private static Rejection json(int status, JsonObject body) {
        return new Rejection(status, retryAfter(), "application/json", body.encode());
    }

    private static MultiMap retryAfter() {
        return MultiMap.caseInsensitiveMultiMap().add(HttpHeaders.RETRY_AFTER, Integer.toString(RETRY_AFTER_SECONDS));
    }

    private static boolean wantsHtml(HttpServerRequest request) {
        String accept = request.getHeader(HttpHeaders.ACCEPT);
        return accept != null && accept.contains("text/html");
    }

    private static String resource(String name) {
        try (InputStream in = WakePolicy.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("resource " + name + " is missing from the jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
