package dev.comfyctl.daemon;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.ext.web.Router;

/**
 * One HTTP server on the daemon's port. Deployed once per event loop: Vert.x spreads the connections of
 * servers sharing a port over their event loops, so the proxy uses every core instead of one.
 */
final class ServerVerticle extends VerticleBase {
    private final Router router;
    private final HttpServerOptions options;

    ServerVerticle(Router router, HttpServerOptions options) {
        this.router = router;
        this.options = options;
    }

    @Override
    public Future<?> start() {
        return vertx.createHttpServer(options).requestHandler(router).listen();
    }
}
