package dev.comfyctl.web;

import dev.comfyctl.process.SessionLogs;
import dev.comfyctl.supervisor.ComfyInstance;
import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The {@code /manager} web page: state, start steps, uptime, idle countdown, GPU, queue, controls, recent
 * events and the log tail, kept live by server-sent events.
 *
 * <p>comfyctl owns only these exact paths, because ComfyUI-Manager serves its own API under
 * {@code /manager/...} and that must reach ComfyUI: {@code GET /manager} (and {@code /manager/}, redirected),
 * {@code GET /comfyctl/assets/NAME} and {@code GET /comfyctl/events}. Mount it before the catch-all proxy.
 */
public final class ManagerPage {
    static final String PAGE = "/manager";
    static final String EVENTS = "/comfyctl/events";
    private static final Duration DEPLOY_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration STATUS_INTERVAL = Duration.ofSeconds(2);
    private static final Duration HEARTBEAT_INTERVAL = Duration.ofSeconds(15);
    private static final String CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
            + " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private final Assets assets = new Assets("manager.css", "manager.js", "icon.svg");
    private final String html;
    private final EventStream events;

    /** @param logsDir the session logs whose tail the page shows (the first instance's) */
    public ManagerPage(List<ComfyInstance> instances, ControlRoutes control, Path logsDir) {
        this(new EventStream(instances, control::statusJson, new SessionLogs(logsDir), STATUS_INTERVAL, HEARTBEAT_INTERVAL));
    }

    ManagerPage(EventStream events) {
        this.events = events;
        this.html = new String(Assets.resource("web/manager.html"), StandardCharsets.UTF_8)
                .replace("{{css}}", assets.url("manager.css"))
                .replace("{{js}}", assets.url("manager.js"))
                .replace("{{icon}}", assets.url("icon.svg"));
    }

    /**
     * Starts the event stream on {@code vertx} (it stops when Vert.x closes) and adds the page's routes.
     *
     * @throws IllegalStateException when the event stream does not start within 10 s
     */
    public void mount(Vertx vertx, Router router) {
        try {
            vertx.deployVerticle(events).toCompletionStage().toCompletableFuture()
                    .get(DEPLOY_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("the manager page's event stream did not start: " + e, e);
        }
        // Registered first: a route for /manager also matches /manager/ in Vert.x.
        router.get(PAGE + "/").handler(ctx -> ctx.redirect(ctx.request().query() == null ? PAGE : PAGE + "?" + ctx.request().query()));
        router.get(PAGE).handler(this::page);
        router.get(Assets.PREFIX + ":name").handler(assets::serve);
        router.get(EVENTS).handler(ctx -> events.connect(ctx.response(), ctx.vertx().getOrCreateContext()));
    }

    private void page(RoutingContext ctx) {
        // Revalidated every time, so a new build's asset hashes reach the browser at once.
        ctx.response()
                .putHeader("Content-Type", "text/html; charset=utf-8")
                .putHeader("Cache-Control", "no-cache")
                .putHeader("Content-Security-Policy", CSP)
                .putHeader("X-Content-Type-Options", "nosniff")
                .putHeader("Referrer-Policy", "no-referrer")
                .end(html);
    }
}
