package dev.comfyctl.proxy;

import io.vertx.core.http.HttpMethod;

/**
 * What the proxy reports about the traffic it carries. The proxy owns this interface so that it needs no
 * metrics library and tests can pass {@link #NONE}. Every method is called on an event loop, on the
 * proxy's hot path: implementations must be cheap and must not block.
 */
public interface ProxyMetrics {
    /** The status of an exchange whose connection closed before its response ended. */
    int ABORTED = 0;

    /** Reports nowhere. */
    ProxyMetrics NONE = new ProxyMetrics() {
        @Override
        public void requestCompleted(HttpMethod method, int status, long nanos, long bytesIn, long bytesOut) {
        }

        @Override
        public void webSocketOpened() {
        }

        @Override
        public void webSocketBytesIn(int bytes) {
        }

        @Override
        public void webSocketBytesOut(int bytes) {
        }

        @Override
        public void webSocketClosed() {
        }
    };

    /**
     * One HTTP exchange ended, answered by ComfyUI or by comfyctl itself (a rejection, a 502). A WebSocket
     * upgrade that ComfyUI accepts ends here with 101, before its tunnel opens.
     *
     * @param status the response's status, or {@link #ABORTED}
     * @param nanos from the request's arrival (a wait for a wake included) to the response's end
     * @param bytesIn body bytes read from the client
     * @param bytesOut body bytes written to the client
     */
    void requestCompleted(HttpMethod method, int status, long nanos, long bytesIn, long bytesOut);

    /** A WebSocket tunnel opened; {@link #webSocketClosed()} follows exactly once. */
    void webSocketOpened();

    /** Bytes went from a client to ComfyUI through a tunnel, WebSocket framing included. */
    void webSocketBytesIn(int bytes);

    /** Bytes went from ComfyUI to a client through a tunnel, WebSocket framing included. */
    void webSocketBytesOut(int bytes);

    /** A tunnel closed, whichever side closed it. */
    void webSocketClosed();
}
