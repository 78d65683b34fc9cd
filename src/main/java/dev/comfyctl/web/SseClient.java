package dev.comfyctl.web;

import io.vertx.core.Context;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One open {@code text/event-stream} response. A client that cannot keep up is disconnected rather than
 * buffered for: it reconnects and gets the whole current state again, so nothing is lost but memory stays bounded.
 *
 * <p>Every write runs on the connection's own context. Written from another thread, Vert.x queues each write
 * and calls the queue full after 16 of them, which would disconnect a client on any burst of events.
 */
final class SseClient {
    private static final Logger log = LoggerFactory.getLogger(SseClient.class);

    private final HttpServerResponse response;
    private final Context connection;

    SseClient(HttpServerResponse response, Context connection) {
        this.response = response;
        this.connection = connection;
    }

    /** Sends the headers; {@code X-Accel-Buffering} stops nginx-style proxies from holding events back. */
    void open() {
        connection.runOnContext(v -> {
            response.setChunked(true)
                    .putHeader("Content-Type", "text/event-stream; charset=utf-8")
                    .putHeader("Cache-Control", "no-store")
                    .putHeader("X-Accel-Buffering", "no")
                    .putHeader("X-Content-Type-Options", "nosniff");
            write(": comfyctl events\n\n");
        });
    }

    /** One event; {@code data} is compact JSON, so it is one {@code data:} line. */
    void send(String event, JsonObject data) {
        String frame = "event: " + event + "\ndata: " + data.encode() + "\n\n";
        connection.runOnContext(v -> write(frame));
    }

    /** A comment line: invisible to the page, but keeps proxies and NAT from closing a quiet stream. */
    void heartbeat() {
        connection.runOnContext(v -> write(": heartbeat\n\n"));
    }

    /** Ends the stream: the client has everything there is to send. */
    void end() {
        connection.runOnContext(v -> {
            if (!response.closed() && !response.ended()) {
                response.end();
            }
        });
    }

    boolean closed() {
        return response.closed();
    }

    private void write(String frame) {
        if (response.closed()) {
            return;
        }
        if (response.writeQueueFull()) {
            log.debug("events client too slow, disconnecting it");
            response.reset();
            return;
        }
        response.write(frame);
    }
}
