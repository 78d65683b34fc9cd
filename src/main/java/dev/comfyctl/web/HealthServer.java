package dev.comfyctl.web;

import dev.comfyctl.process.PortOwner;
import dev.comfyctl.process.ProcessInfo;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.ext.web.Router;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The health routes ({@link HealthRoutes}) on a port of their own ({@code HEALTH_PORT}), without the manager
 * token: what container and load-balancer probes call.
 */
public final class HealthServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HealthServer.class);
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private final HttpServer server;
    private final AtomicBoolean closed = new AtomicBoolean();

    private HealthServer(HttpServer server) {
        this.server = server;
    }

    /**
     * @throws IllegalStateException when {@code host:port} cannot be bound, naming the process that holds it
     */
    public static HealthServer start(Vertx vertx, String host, int port, HealthRoutes routes) {
        Router router = Router.router(vertx);
        routes.mount(router);
        try {
            HttpServer server = vertx.createHttpServer(new HttpServerOptions().setHost(host).setPort(port))
                    .requestHandler(router).listen()
                    .toCompletionStage().toCompletableFuture().get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            log.info("health server listening on http://{}:{} (/health, /ready, /status)", host, server.actualPort());
            return new HealthServer(server);
        } catch (Exception e) {
            String holder = (port == 0 ? Optional.<ProcessInfo>empty() : PortOwner.find(port)).map(p -> " It is held by pid " + p.pid() + " (" + p.commandLine() + ").")
                    .orElse("");
            throw new IllegalStateException("cannot listen on " + host + ":" + port + " for the health server ("
                    + rootMessage(e) + ")." + holder + " Set HEALTH_PORT to a free port (0 = no health server of its own)"
                    + " or stop that process", e);
        }
    }

    public int port() {
        return server.actualPort();
    }

    /** Idempotent. */
    @Override
    public void close() {
        if (closed.getAndSet(true)) {
            return;
        }
        try {
            server.close().toCompletionStage().toCompletableFuture().get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            log.warn("Timed-out or failed closing the health server: {}", e.toString());
        }
    }

    private static String rootMessage(Throwable e) {
        Throwable cause = e;
        while (cause.getCause() != null) {
            cause = cause.getCause();
        }
        return cause.getMessage();
    }
}
