package dev.comfyctl.proxy;

import io.vertx.core.Future;
import io.vertx.core.http.HttpServerRequest;

/** What the proxy asks before it forwards, and tells about the traffic it carries. */
public interface ProxyPolicy {

    /** Forwards everything at once and ignores traffic: a backend that is always up. */
    ProxyPolicy ALWAYS_OPEN = new ProxyPolicy() {
        @Override
        public Future<Void> admit(HttpServerRequest request) {
            return Future.succeededFuture();
        }

        @Override
        public boolean admitNow(String method, String path) {
            return true;
        }

        @Override
        public void webSocketTraffic() {
        }
    };

    /**
     * Completes, on the request's context, when the request may be forwarded; fails with
     * {@link RejectedException} to answer the client with its rejection instead. May wait, for
     * example while the backend starts; the request is paused meanwhile.
     */
    Future<Void> admit(HttpServerRequest request);

    /**
     * Admits a plain request (no body, no upgrade) at once when nothing stands in its way, with the effects
     * {@link #admit} would have; false, with no effect, when it would wait or be rejected: then it goes to
     * {@link #admit}. Called on the event loop; must not block.
     */
    default boolean admitNow(String method, String path) {
        return false;
    }

    /** A client sent bytes over a proxied WebSocket. Called on the event loop; must not block. */
    void webSocketTraffic();

    /** Whether the backend sleeps and a request may wake it. Called on the event loop; must not block. */
    default boolean canWake() {
        return false;
    }

    /** Whether the backend is starting, woken or started by hand. Called on the event loop; must not block. */
    default boolean isStarting() {
        return false;
    }

    /**
     * Wakes the backend with no request waiting for it, to share the load of the others; does nothing unless
     * {@link #canWake()}. Called on the event loop; must not block.
     */
    default void wakeToShareLoad(String cause) {
    }
}
