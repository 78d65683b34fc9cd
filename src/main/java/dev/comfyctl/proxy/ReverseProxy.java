package dev.comfyctl.proxy;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.MultiMap;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.HostAndPort;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.SocketAddress;
import io.vertx.core.streams.ReadStream;
import io.vertx.core.streams.WriteStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.IntConsumer;

/**
 * Forwards HTTP requests and WebSocket upgrades to a backend, streaming bodies both ways with
 * backpressure: nothing is buffered whole, so a 1 GB download or upload passes in flat memory and a slow
 * client slows the backend down instead of filling the heap.
 *
 * <p>With several backends the {@link Balancer} chooses one per request. Its rules need the JSON body of
 * {@code POST /prompt} and {@code /interrupt} (their {@code client_id}, {@code prompt_id}) and the
 * {@code prompt_id} ComfyUI answers: those small exchanges alone are read whole, up to
 * {@link #MAX_ROUTED_BODY} (413 beyond).
 *
 * <p>The client's Host header is kept (ComfyUI refuses a request whose Origin does not match its Host),
 * hop-by-hop headers are dropped (RFC 9110, 7.6.1) and X-Forwarded-For/-Proto/-Host are added. A request
 * is never re-sent: a backend that drops a non-idempotent request (ComfyUI-Manager's reboot exits inside
 * its handler) must not be asked twice, so the client gets 502 instead.
 *
 * <p>Every exchange and tunnel is reported to {@link ProxyMetrics}. The proxy owns the response's end
 * handler to learn when an exchange ends, so a route in front of it must not use
 * {@code RoutingContext.addEndHandler}.
 */
public final class ReverseProxy implements Handler<HttpServerRequest>, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ReverseProxy.class);
    /** Credential headers ComfyUI trusts from a loopback peer; every client of a local proxy looks local. */
    /** Bodies are relayed in pieces of this size, both ways: Vert.x's default of 8 KiB halves bulk throughput. */
    public static final int CHUNK_SIZE = 64 * 1024;
    private static final String[] LOOPBACK_TRUSTED = {"x-comfy-client-id", "x-comfy-credential-key"};
    /** The largest prompt (or interrupt) body read to choose its backend: a workflow is kilobytes, rarely megabytes. */
    public static final int MAX_ROUTED_BODY = 16 * 1024 * 1024;
    /** How much of a refused body is read and dropped, so that its client gets the 413, before the connection is cut. */
    private static final long DROPPED_BODY_LIMIT = 4L * MAX_ROUTED_BODY;

    private final Balancer balancer;
    private final ProxyMetrics metrics;
    private final HttpClientAgent client;

    /**
     * @param timeout how long a request may go without any bytes moving before it is cut (300 s: generations
     *     and big uploads are slow)
     */
    public ReverseProxy(Vertx vertx, SocketAddress backend, Duration timeout, ProxyPolicy policy, ProxyMetrics metrics) {
        this(vertx, Balancer.single(Backend.alwaysReady("comfyui", backend, policy)), timeout, metrics);
    }

    /** A proxy to the backends of {@code balancer}, each behind its own policy. */
    public ReverseProxy(Vertx vertx, Balancer balancer, Duration timeout, ProxyMetrics metrics) {
        this.balancer = balancer;
        this.metrics = metrics;
        this.client = vertx.createHttpClient(new HttpClientOptions()
                        .setKeepAlive(true)
                        .setTcpNoDelay(true)
                        .setMaxChunkSize(CHUNK_SIZE)
                        .setConnectTimeout(5_000)
                        .setIdleTimeout((int) timeout.toSeconds())
                        .setIdleTimeoutUnit(TimeUnit.SECONDS),
                new PoolOptions().setHttp1MaxSize(256));
    }

    @Override
    public void handle(HttpServerRequest request) {
        long arrived = System.nanoTime();
        request.pause();
        request.response().endHandler(v -> completed(request, arrived));
        if (balancer.backends().size() > 1 && Balancer.routesByBody(request)) {
            readRoutedBody(request).onSuccess(body -> dispatch(request, balancer.choose(request, json(body)), body, arrived));
        } else {
            dispatch(request, balancer.choose(request, Optional.empty()), null, arrived);
        }
    }

    /** @param body the request's body when it was read to choose the backend, else null: it is streamed */
    private void dispatch(HttpServerRequest request, Balancer.Choice choice, Buffer body, long arrived) {
        boolean webSocket = isWebSocketUpgrade(request);
        choice.backend().policy().admit(request).onComplete(admitted -> {
            if (admitted.failed()) {
                reject(request, admitted.cause());
            } else if (webSocket) {
                tunnel(request, choice.backend(), arrived);
            } else {
                forward(request, choice, body);
            }
        });
    }

    /** Reads the whole (small) body; answers 413 and fails when it passes {@link #MAX_ROUTED_BODY}. */
    private Future<Buffer> readRoutedBody(HttpServerRequest request) {
        Promise<Buffer> read = Promise.promise();
        String declared = request.getHeader(HttpHeaders.CONTENT_LENGTH);
        if (declared != null && declared.strip().matches("\\d{1,18}") && Long.parseLong(declared.strip()) > MAX_ROUTED_BODY) {
            tooLarge(request);
            read.fail("body too large");
            return read.future();
        }
        Buffer body = Buffer.buffer();
        request.handler(chunk -> {
            if (read.future().isComplete()) {
                return;
            }
            body.appendBuffer(chunk);
            if (body.length() > MAX_ROUTED_BODY) {
                tooLarge(request);
                read.tryFail("body too large");
            }
        });
        request.endHandler(v -> read.tryComplete(body));
        request.exceptionHandler(read::tryFail);
        request.resume();
        return read.future();
    }

    private static void tooLarge(HttpServerRequest request) {
        HttpServerResponse response = request.response();
        if (response.headWritten() || response.closed()) {
            return;
        }
        // The client is still sending: closing now would reset the connection before it reads this answer. The rest
        // of the body is read and dropped, up to a bound, and the connection closed after it.
        long[] dropped = {0};
        request.handler(chunk -> {
            dropped[0] += chunk.length();
            if (dropped[0] > DROPPED_BODY_LIMIT) {
                request.connection().close();
            }
        });
        request.endHandler(v -> request.connection().close());
        request.resume();
        response.setStatusCode(413).putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
                .putHeader(HttpHeaders.CONNECTION, "close")
                .end(new JsonObject().put("error", "the body of " + request.method() + " " + request.path() + " is larger than "
                        + MAX_ROUTED_BODY / (1024 * 1024) + " MiB, the most comfyctl reads to choose the ComfyUI instance;"
                        + " send large inputs with POST /upload/image and refer to them by name").encode());
    }

    private static Optional<JsonObject> json(Buffer body) {
        try {
            return body.length() == 0 ? Optional.empty() : Optional.of(body.toJsonObject());
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }

    private void completed(HttpServerRequest request, long arrived) {
        HttpServerResponse response = request.response();
        int status = response.ended() ? response.getStatusCode() : ProxyMetrics.ABORTED;
        metrics.requestCompleted(request.method(), status, System.nanoTime() - arrived, request.bytesRead(), response.bytesWritten());
    }

    private void forward(HttpServerRequest request, Balancer.Choice choice, Buffer readBody) {
        Backend backend = choice.backend();
        client.request(options(request, backend)).onComplete(opened -> {
            if (opened.failed()) {
                badGateway(request, backend, opened.cause());
                return;
            }
            HttpClientRequest outgoing = opened.result();
            copyRequestHeaders(request, outgoing.headers());
            outgoing.headers().remove(HttpHeaders.EXPECT);
            HttpServerResponse response = request.response();
            response.closeHandler(v -> outgoing.reset());
            Future<HttpClientResponse> answered;
            if (readBody != null) {
                outgoing.headers().remove(HttpHeaders.TRANSFER_ENCODING);
                outgoing.putHeader(HttpHeaders.CONTENT_LENGTH, Integer.toString(readBody.length()));
                answered = outgoing.send(readBody);
            } else if (hasBody(request)) {
                if (!request.headers().contains(HttpHeaders.CONTENT_LENGTH)) {
                    outgoing.setChunked(true);
                }
                answered = outgoing.send(request);
            } else {
                request.resume();
                answered = outgoing.send();
            }
            answered.onComplete(received -> {
                if (received.failed()) {
                    badGateway(request, backend, received.cause());
                } else if (readBody != null && Balancer.isPrompt(request)) {
                    relayPrompt(request, backend, received.result());
                } else {
                    relay(request, received.result(), choice.setCookie() ? backend : null);
                }
            });
        });
    }

    /** @param stickTo the backend whose cookie the response sets, or null for none */
    private void relay(HttpServerRequest request, HttpClientResponse answer, Backend stickTo) {
        HttpServerResponse response = request.response();
        if (response.headWritten() || response.closed()) {
            answer.request().reset();
            return;
        }
        response.setStatusCode(answer.statusCode()).setStatusMessage(answer.statusMessage());
        HopByHop.copyEndToEnd(answer.headers(), response.headers());
        if (stickTo != null) {
            response.addCookie(Balancer.cookie(stickTo));
        }
        boolean bodyless = request.method() == HttpMethod.HEAD || answer.statusCode() == 204
                || answer.statusCode() == 304 || answer.statusCode() / 100 == 1;
        if (!bodyless && !answer.headers().contains(HttpHeaders.CONTENT_LENGTH)) {
            response.setChunked(true);
        }
        answer.pipeTo(response).onFailure(e -> {
            log.debug("response of {} {} cut: {}", request.method(), request.uri(), e.toString());
            response.reset();
        });
    }

    /** ComfyUI's answer to a prompt, read whole (it is small) to learn the prompt's id. */
    private void relayPrompt(HttpServerRequest request, Backend backend, HttpClientResponse answer) {
        answer.body().onComplete(read -> {
            HttpServerResponse response = request.response();
            if (read.failed()) {
                badGateway(request, backend, read.cause());
                return;
            }
            if (response.headWritten() || response.closed()) {
                return;
            }
            Buffer body = read.result();
            if (answer.statusCode() == 200) {
                json(body).map(json -> json.getValue("prompt_id")).ifPresent(id -> balancer.promptAccepted(backend, String.valueOf(id)));
            }
            response.setStatusCode(answer.statusCode()).setStatusMessage(answer.statusMessage());
            HopByHop.copyEndToEnd(answer.headers(), response.headers());
            response.headers().remove(HttpHeaders.TRANSFER_ENCODING);
            response.putHeader(HttpHeaders.CONTENT_LENGTH, Integer.toString(body.length())).end(body);
        });
    }

    private void tunnel(HttpServerRequest request, Backend target, long arrived) {
        client.request(options(request, target)).onComplete(opened -> {
            if (opened.failed()) {
                badGateway(request, target, opened.cause());
                return;
            }
            HttpClientRequest outgoing = opened.result();
            request.headers().forEach((name, value) -> {
                if (!name.equalsIgnoreCase("host")) {
                    outgoing.headers().add(name, value);
                }
            });
            addForwardedHeaders(request, outgoing.headers());
            stripLoopbackCredentials(request, outgoing.headers());
            // connect() never ends the request, so when the tunnel's connection closes, however normally, Vert.x fails
            // the request with "Connection was closed" and logs it as an ERROR unless someone handles it.
            outgoing.exceptionHandler(e -> log.debug("tunnel of {} ended: {}", request.uri(), e.toString()));
            outgoing.connect().onComplete(connected -> {
                if (connected.failed()) {
                    badGateway(request, target, connected.cause());
                    return;
                }
                HttpClientResponse answer = connected.result();
                if (answer.statusCode() != 101) {
                    request.resume();
                    relay(request, answer, null);
                    return;
                }
                NetSocket backend = answer.netSocket();
                // ComfyUI may hang up before the client's side is upgraded: then the client must not be left open.
                backend.closeHandler(v -> request.connection().close());
                HttpServerResponse response = request.response().setStatusCode(101);
                response.headers().addAll(answer.headers());
                request.toNetSocket().onComplete(upgraded -> {
                    if (upgraded.failed()) {
                        log.debug("client of {} left during the upgrade: {}", request.uri(), upgraded.cause().toString());
                        backend.close();
                        return;
                    }
                    // The upgraded connection leaves the response behind, and its end handler with it.
                    metrics.requestCompleted(request.method(), 101, System.nanoTime() - arrived, 0, 0);
                    String clientId = request.getParam("clientId");
                    if (clientId != null) {
                        balancer.webSocketOpened(clientId, target);
                    }
                    join(upgraded.result(), backend, target.policy(),
                            () -> Optional.ofNullable(clientId).ifPresent(id -> balancer.webSocketClosed(id, target)));
                });
            });
        });
    }

    /** Both directions with backpressure; either side closing closes the other, and the tunnel counts as closed once. */
    private void join(NetSocket client, NetSocket backend, ProxyPolicy policy, Runnable onClose) {
        metrics.webSocketOpened();
        AtomicBoolean open = new AtomicBoolean(true);
        // Only what the client sends is activity: ComfyUI and its custom nodes push status messages to every open
        // tab on their own, and a forgotten tab must not keep the GPU awake.
        pump(client, backend, bytes -> {
            policy.webSocketTraffic();
            metrics.webSocketBytesIn(bytes);
        });
        pump(backend, client, metrics::webSocketBytesOut);
        client.closeHandler(v -> closed(backend, open, onClose));
        backend.closeHandler(v -> closed(client, open, onClose));
    }

    private void closed(NetSocket other, AtomicBoolean open, Runnable onClose) {
        other.close();
        if (open.compareAndSet(true, false)) {
            metrics.webSocketClosed();
            onClose.run();
        }
    }

    private void pump(ReadStream<Buffer> from, WriteStream<Buffer> to, IntConsumer counted) {
        from.handler(chunk -> {
            counted.accept(chunk.length());
            to.write(chunk);
            if (to.writeQueueFull()) {
                from.pause();
                to.drainHandler(v -> from.resume());
            }
        });
    }

    private RequestOptions options(HttpServerRequest request, Backend backend) {
        // No per-request idle timeout: it would arm and cancel a timer for every request, and count only bytes received.
        // The connection's idle timeout (the client's options) cuts a request when no byte moves either way.
        RequestOptions options = new RequestOptions()
                .setServer(backend.address())
                .setMethod(request.method())
                .setURI(request.uri());
        HostAndPort authority = request.authority();
        if (authority != null) {
            options.setHost(authority.host()).setPort(authority.port() > 0 ? authority.port() : 80);
        }
        return options;
    }

    private static void copyRequestHeaders(HttpServerRequest request, MultiMap to) {
        HopByHop.copyEndToEnd(request.headers(), to);
        to.remove(HttpHeaders.HOST);
        addForwardedHeaders(request, to);
        stripLoopbackCredentials(request, to);
    }

    private static void addForwardedHeaders(HttpServerRequest request, MultiMap to) {
        String clientAddress = request.remoteAddress() == null ? "unknown" : request.remoteAddress().hostAddress();
        String previous = request.headers().get("X-Forwarded-For");
        to.set("X-Forwarded-For", previous == null ? clientAddress : previous + ", " + clientAddress);
        to.set("X-Forwarded-Proto", request.isSSL() ? "https" : "http");
        if (request.authority() != null) {
            to.set("X-Forwarded-Host", request.authority().toString());
        }
    }

    private static void stripLoopbackCredentials(HttpServerRequest request, MultiMap to) {
        if (request.remoteAddress() == null || !isLoopback(request.remoteAddress().hostAddress())) {
            for (String header : LOOPBACK_TRUSTED) {
                to.remove(header);
            }
        }
    }

    private static boolean isLoopback(String address) {
        return address.startsWith("127.") || address.equals("::1") || address.equals("0:0:0:0:0:0:0:1");
    }

    private static boolean hasBody(HttpServerRequest request) {
        String length = request.headers().get(HttpHeaders.CONTENT_LENGTH);
        if (length != null) {
            return !length.strip().equals("0");
        }
        String encoding = request.headers().get(HttpHeaders.TRANSFER_ENCODING);
        return encoding != null && encoding.toLowerCase(Locale.ROOT).contains("chunked");
    }

    static boolean isWebSocketUpgrade(HttpServerRequest request) {
        String upgrade = request.headers().get(HttpHeaders.UPGRADE);
        String connection = request.headers().get(HttpHeaders.CONNECTION);
        return request.method() == HttpMethod.GET && upgrade != null && upgrade.equalsIgnoreCase("websocket")
                && connection != null && connection.toLowerCase(Locale.ROOT).contains("upgrade");
    }

    private void reject(HttpServerRequest request, Throwable cause) {
        request.resume();
        HttpServerResponse response = request.response();
        if (cause instanceof RejectedException rejected) {
            Rejection rejection = rejected.rejection();
            response.setStatusCode(rejection.status()).headers().addAll(rejection.headers());
            response.putHeader(HttpHeaders.CONTENT_TYPE, rejection.contentType()).end(rejection.body());
        } else {
            log.warn("proxy policy failed for {} {}", request.method(), request.uri(), cause);
            error(response, 500, "comfyctl could not decide how to handle this request: " + cause);
        }
    }

    private void badGateway(HttpServerRequest request, Backend backend, Throwable cause) {
        request.resume();
        HttpServerResponse response = request.response();
        if (response.headWritten() || response.closed()) {
            response.reset();
            return;
        }
        error(response, 502, "ComfyUI " + backend.name() + " at " + backend.address() + " did not answer " + request.method() + " " + request.path()
                + ": " + cause.getMessage() + " (not retried)");
    }

    private static void error(HttpServerResponse response, int status, String message) {
        if (!response.closed()) {
            response.setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
                    .end(new JsonObject().put("error", message).encode());
        }
    }

    @Override
    public void close() {
        client.close();
    }
}
