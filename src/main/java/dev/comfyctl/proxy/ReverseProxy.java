package dev.comfyctl.proxy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpHeadersFactory;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.AsciiString;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.impl.Http1xServerConnection;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.buffer.BufferInternal;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.SocketAddress;
import io.vertx.core.streams.WriteStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * Forwards HTTP requests and WebSocket upgrades to a backend, streaming bodies both ways with
 * backpressure: nothing is buffered whole, so a 1 GB download or upload passes in flat memory and a slow
 * client slows the backend down instead of filling the heap. An upload's body goes from the client's connection to
 * the backend's as Netty read it, past Vert.x, when the server has the proxy's {@link #connectionHandler()}
 * ({@link UploadTap}); with it too, a plain request (no body, no upgrade) for a ready backend never reaches Vert.x
 * at all ({@link DirectLane}), and {@link #handle} sees only the others.
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
    /** Bodies are relayed in pieces of this size, both ways: Vert.x's default of 8 KiB halves bulk throughput. */
    public static final int CHUNK_SIZE = 64 * 1024;
    private static final AsciiString X_FORWARDED_FOR = AsciiString.cached("x-forwarded-for");
    private static final AsciiString X_FORWARDED_PROTO = AsciiString.cached("x-forwarded-proto");
    private static final AsciiString X_FORWARDED_HOST = AsciiString.cached("x-forwarded-host");
    /** Credential headers ComfyUI trusts from a loopback peer; every client of a local proxy looks local. */
    private static final String[] LOOPBACK_TRUSTED = {"x-comfy-client-id", "x-comfy-credential-key"};
    /** The largest prompt (or interrupt) body read to choose its backend: a workflow is kilobytes, rarely megabytes. */
    public static final int MAX_ROUTED_BODY = 16 * 1024 * 1024;
    /** How much of a refused body is read and dropped, so that its client gets the 413, before the connection is cut. */
    private static final long DROPPED_BODY_LIMIT = 4L * MAX_ROUTED_BODY;
    /** The server has validated what the client sent; the proxy only removes and adds headers it names itself. */
    private static final HttpHeadersFactory HEADERS = DefaultHttpHeadersFactory.headersFactory().withValidation(false);

    private final Balancer balancer;
    private final ProxyMetrics metrics;
    private final Upstreams upstreams;

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
        this.upstreams = new Upstreams(vertx, timeout);
    }

    /**
     * The handler of new connections, for the server in front of this proxy: it lets the bodies of uploads go to the
     * backend as they were read, without Vert.x's copy of every piece (see {@link UploadTap}). Without it they take
     * Vert.x's way.
     */
    public Handler<HttpConnection> connectionHandler() {
        return connectionHandler(path -> true);
    }

    /**
     * The handler of new connections, for a server whose request handler hands this proxy the requests for some paths
     * only, or behind checks: {@code forwardedUnchecked} tells the paths whose requests it hands on at once, unchecked.
     * Those of them that are plain (no body, no upgrade) and whose backend is ready go to it straight from the
     * connection, past Vert.x's HTTP server ({@link DirectLane}); uploads' bodies go past Vert.x too
     * ({@link UploadTap}).
     */
    public Handler<HttpConnection> connectionHandler(Predicate<String> forwardedUnchecked) {
        return connection -> {
            if (connection instanceof Http1xServerConnection http1) {
                ChannelHandlerContext vertx = http1.channelHandlerContext();
                // Vert.x gives its connections unpooled heap buffers for all but socket reads: every response head the
                // codec encodes would be a fresh array, copied again to reach the socket. Like the backends'
                // connections, they take Netty's pooled direct buffers instead.
                vertx.channel().config().setAllocator(ByteBufAllocator.DEFAULT);
                UploadTap.install(vertx);
                vertx.pipeline().addBefore(UploadTap.NAME, "directLane", new DirectLane(this, forwardedUnchecked));
            }
        };
    }

    /**
     * The backend that takes a plain request for {@code path} now, past Vert.x; null when the request must take
     * {@link #handle}'s way: several backends to choose from, or one that is not ready.
     */
    Backend admitNow(String method, String path) {
        if (balancer.backends().size() != 1) {
            return null;
        }
        Backend only = balancer.backends().get(0);
        return only.policy().admitNow(method, path) ? only : null;
    }

    Upstreams upstreams() {
        return upstreams;
    }

    ProxyMetrics metrics() {
        return metrics;
    }

    /** Must be the server's request handler or be called by it at once, for an upload's body to bypass Vert.x. */
    @Override
    public void handle(HttpServerRequest request) {
        long arrived = System.nanoTime();
        request.pause();
        // The request's own event loop: the exchange with the backend runs there, whichever thread admits it.
        ContextInternal context = (ContextInternal) Vertx.currentContext();
        if (balancer.backends().size() > 1 && Balancer.routesByBody(request)) {
            request.response().endHandler(v -> completed(request, arrived, null));
            readRoutedBody(request).onSuccess(body -> dispatch(request, balancer.choose(request, json(body)), body, null, arrived, context));
        } else {
            // Now or never: the body's first pieces may follow the head in the same read.
            UploadTap.Body upload = hasBody(request) && !isWebSocketUpgrade(request) ? UploadTap.claim(request) : null;
            request.response().endHandler(v -> completed(request, arrived, upload));
            dispatch(request, balancer.choose(request, Optional.empty()), null, upload, arrived, context);
        }
    }

    /**
     * @param body the request's body when it was read to choose the backend, else null: it is streamed
     * @param upload the streamed body, when it is off Vert.x's path
     */
    private void dispatch(HttpServerRequest request, Balancer.Choice choice, Buffer body, UploadTap.Body upload, long arrived,
                          ContextInternal context) {
        boolean webSocket = isWebSocketUpgrade(request);
        choice.backend().policy().admit(request).onComplete(admitted -> context.execute(() -> {
            if (admitted.failed()) {
                reject(request, upload, admitted.cause());
            } else if (webSocket) {
                tunnel(request, choice.backend(), arrived, context);
            } else {
                forward(request, choice, body, upload, context);
            }
        }));
    }

    /** Reads the whole (small) body; answers 413 and fails when it passes {@link #MAX_ROUTED_BODY}. */
    private Future<Buffer> readRoutedBody(HttpServerRequest request) {
        Promise<Buffer> read = Promise.promise();
        String declared = request.getHeader(HttpHeaderNames.CONTENT_LENGTH);
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
        response.setStatusCode(413).putHeader(HttpHeaderNames.CONTENT_TYPE, "application/json")
                .putHeader(HttpHeaderNames.CONNECTION, "close")
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

    private void completed(HttpServerRequest request, long arrived, UploadTap.Body upload) {
        HttpServerResponse response = request.response();
        int status = response.ended() ? response.getStatusCode() : ProxyMetrics.ABORTED;
        long read = request.bytesRead() + (upload == null ? 0 : upload.bytes());
        metrics.requestCompleted(request.method(), status, System.nanoTime() - arrived, read, response.bytesWritten());
    }

    private void forward(HttpServerRequest request, Balancer.Choice choice, Buffer readBody, UploadTap.Body upload, ContextInternal context) {
        Backend backend = choice.backend();
        HttpHeaders headers = HEADERS.newHeaders();
        HopByHop.copyEndToEnd(request.headers(), headers);
        headers.remove(HttpHeaderNames.EXPECT);
        addForwardedHeaders(request, headers);
        stripLoopbackCredentials(request, headers);
        keepHost(headers, backend);
        boolean streamed = readBody == null && hasBody(request);
        HttpRequest outgoing;
        if (streamed) {
            outgoing = new DefaultHttpRequest(HttpVersion.HTTP_1_1, method(request), request.uri(), headers);
            if (!request.headers().contains(HttpHeaderNames.CONTENT_LENGTH)) {
                HttpUtil.setTransferEncodingChunked(outgoing, true);
            }
        } else {
            outgoing = whole(request, headers, readBody == null ? Unpooled.EMPTY_BUFFER : ((BufferInternal) readBody).getByteBuf());
            if (readBody != null) {
                headers.set(HttpHeaderNames.CONTENT_LENGTH, readBody.length());
            }
        }
        upstreams.connect(context.nettyEventLoop(), backend.address(), (upstream, failure) -> {
            if (failure != null) {
                badGateway(request, upload, backend, failure);
                return;
            }
            Relay relay = readBody != null && Balancer.isPrompt(request)
                    ? new PromptRelay(request, backend, upstream)
                    : new Relay(request, backend, upstream, choice.setCookie(), upload);
            request.response().closeHandler(v -> relay.clientLeft());
            upstream.send(outgoing, relay);
            if (upload != null) {
                upload.streamTo(upstream);
                request.resume();
            } else if (streamed) {
                streamBody(request, upstream);
            } else {
                request.resume();
            }
        });
    }

    /**
     * The client's body to the backend as Vert.x delivers it (copied), pausing the client while the backend's side is
     * full: the way of a body the {@link UploadTap} could not take (HTTP/2, a pipelined request, a server without it).
     */
    private static void streamBody(HttpServerRequest request, Upstream upstream) {
        request.handler(piece -> {
            upstream.write(((BufferInternal) piece).getByteBuf());
            // A backend that has gone away takes nothing more: the rest is read and dropped (its client has its answer).
            if (upstream.open() && !upstream.writable()) {
                request.pause();
                upstream.whenWritable(request::resume);
            }
        });
        request.endHandler(v -> upstream.end());
        request.exceptionHandler(e -> upstream.close());
        request.resume();
    }

    /** {@code request}'s line with these headers and this whole body, sent in one write. */
    private static FullHttpRequest whole(HttpServerRequest request, HttpHeaders headers, ByteBuf body) {
        return new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, method(request), request.uri(), body, headers, HEADERS.newEmptyHeaders());
    }

    private static io.netty.handler.codec.http.HttpMethod method(HttpServerRequest request) {
        return io.netty.handler.codec.http.HttpMethod.valueOf(request.method().name());
    }

    /**
     * A piece read from the backend, to the client as it is (released once written); the backend is not read
     * while the client's side is full.
     */
    private static void pass(ByteBuf piece, Upstream from, WriteStream<Buffer> to) {
        to.write(BufferInternal.buffer(piece)).onComplete(written -> piece.release());
        if (to.writeQueueFull()) {
            from.reading(false);
            to.drainHandler(v -> from.reading(true));
        }
    }

    /** The backend's status; its reason phrase only when it is not the usual one, which Vert.x writes by itself. */
    private static void status(HttpServerResponse response, HttpResponse answer) {
        HttpResponseStatus status = answer.status();
        response.setStatusCode(status.code());
        if (!status.reasonPhrase().equals(HttpResponseStatus.valueOf(status.code()).reasonPhrase())) {
            response.setStatusMessage(status.reasonPhrase());
        }
    }

    /** Relays the backend's response to the client as it comes, with backpressure both ways. */
    private class Relay implements Upstream.Exchange {
        final HttpServerRequest request;
        final Backend backend;
        final Upstream upstream;
        private final boolean setCookie;
        private final UploadTap.Body upload;
        private boolean done;

        Relay(HttpServerRequest request, Backend backend, Upstream upstream, boolean setCookie, UploadTap.Body upload) {
            this.request = request;
            this.backend = backend;
            this.upstream = upstream;
            this.setCookie = setCookie;
            this.upload = upload;
        }

        @Override
        public void head(HttpResponse answer) {
            HttpServerResponse response = request.response();
            if (response.headWritten() || response.closed()) {
                clientLeft();
                return;
            }
            status(response, answer);
            HopByHop.copyEndToEnd(answer.headers(), response.headers());
            if (setCookie) {
                response.addCookie(Balancer.cookie(backend));
            }
            int status = answer.status().code();
            boolean bodyless = request.method() == HttpMethod.HEAD || status == 204 || status == 304;
            if (!bodyless && !answer.headers().contains(HttpHeaderNames.CONTENT_LENGTH)) {
                response.setChunked(true);
            }
        }

        @Override
        public void content(ByteBuf piece) {
            pass(piece, upstream, request.response());
        }

        @Override
        public void end(ByteBuf last) {
            done = true;
            if (last.isReadable()) {
                request.response().end(BufferInternal.buffer(last)).onComplete(written -> last.release());
            } else {
                last.release();
                request.response().end();
            }
        }

        @Override
        public void failed(Throwable cause) {
            done = true;
            badGateway(request, upload, backend, cause);
        }

        /** The client went away mid-exchange: the backend's connection cannot be reused. */
        void clientLeft() {
            if (!done) {
                done = true;
                upstream.close();
            }
        }
    }

    /** ComfyUI's answer to a prompt, read whole (it is small) to learn the prompt's id. */
    private final class PromptRelay extends Relay {
        private HttpResponse answer;
        private final Buffer body = Buffer.buffer();

        PromptRelay(HttpServerRequest request, Backend backend, Upstream upstream) {
            super(request, backend, upstream, false, null);
        }

        @Override
        public void head(HttpResponse answer) {
            this.answer = answer;
        }

        @Override
        public void content(ByteBuf piece) {
            body.appendBuffer(BufferInternal.buffer(piece));
            piece.release();
        }

        @Override
        public void end(ByteBuf last) {
            content(last);
            HttpServerResponse response = request.response();
            if (response.headWritten() || response.closed()) {
                return;
            }
            if (answer.status().code() == 200) {
                json(body).map(json -> json.getValue("prompt_id")).ifPresent(id -> balancer.promptAccepted(backend, String.valueOf(id)));
            }
            status(response, answer);
            HopByHop.copyEndToEnd(answer.headers(), response.headers());
            response.putHeader(HttpHeaderNames.CONTENT_LENGTH, Integer.toString(body.length())).end(body);
        }
    }

    private void tunnel(HttpServerRequest request, Backend target, long arrived, ContextInternal context) {
        HttpHeaders headers = HEADERS.newHeaders();
        request.headers().forEach(header -> headers.add(header.getKey(), header.getValue()));
        addForwardedHeaders(request, headers);
        stripLoopbackCredentials(request, headers);
        keepHost(headers, target);
        FullHttpRequest upgrade = whole(request, headers, Unpooled.EMPTY_BUFFER);
        upstreams.connect(context.nettyEventLoop(), target.address(), (upstream, failure) -> {
            if (failure != null) {
                badGateway(request, null, target, failure);
            } else {
                upstream.send(upgrade, new Handshake(request, target, upstream, arrived));
            }
        });
    }

    /**
     * The backend's answer to a WebSocket upgrade: anything but a 101 is relayed as a response; a 101 upgrades
     * the client's connection too, and the two are joined into a tunnel, with backpressure both ways. Either side
     * closing closes the other, and the tunnel counts as closed once.
     */
    private final class Handshake implements Upstream.Exchange {
        private final HttpServerRequest request;
        private final Backend target;
        private final Upstream upstream;
        private final long arrived;
        private final String clientId;
        private Relay refused;
        private NetSocket client;
        private boolean open;

        Handshake(HttpServerRequest request, Backend target, Upstream upstream, long arrived) {
            this.request = request;
            this.target = target;
            this.upstream = upstream;
            this.arrived = arrived;
            this.clientId = request.getParam("clientId");
        }

        @Override
        public void head(HttpResponse answer) {
            if (answer.status().code() != 101) {
                refused = new Relay(request, target, upstream, false, null);
                request.response().closeHandler(v -> refused.clientLeft());
                refused.head(answer);
                request.resume();
                return;
            }
            // Nothing is read from ComfyUI until the client's side is upgraded too and can take it.
            upstream.reading(false);
            HttpServerResponse response = request.response().setStatusCode(101);
            answer.headers().forEach(header -> response.headers().add(header.getKey(), header.getValue()));
            request.toNetSocket().onComplete(upgraded -> {
                if (upgraded.failed()) {
                    log.debug("client of {} left during the upgrade: {}", request.uri(), upgraded.cause().toString());
                    upstream.close();
                    return;
                }
                // The upgraded connection leaves the response behind, and its end handler with it.
                metrics.requestCompleted(request.method(), 101, System.nanoTime() - arrived, 0, 0);
                join(upgraded.result());
            });
        }

        private void join(NetSocket socket) {
            client = socket;
            open = true;
            metrics.webSocketOpened();
            if (clientId != null) {
                balancer.webSocketOpened(clientId, target);
            }
            ProxyPolicy policy = target.policy();
            socket.handler(piece -> {
                // Only what the client sends is activity: ComfyUI and its custom nodes push status messages to every
                // open tab on their own, and a forgotten tab must not keep the GPU awake.
                policy.webSocketTraffic();
                metrics.webSocketBytesIn(piece.length());
                upstream.write(((BufferInternal) piece).getByteBuf());
                if (!upstream.writable()) {
                    socket.pause();
                    upstream.whenWritable(socket::resume);
                }
            });
            socket.closeHandler(v -> {
                upstream.close();
                closed();
            });
            upstream.tunnel();
            upstream.reading(true);
        }

        @Override
        public void content(ByteBuf piece) {
            if (refused != null) {
                refused.content(piece);
                return;
            }
            metrics.webSocketBytesOut(piece.readableBytes());
            pass(piece, upstream, client);
        }

        @Override
        public void end(ByteBuf last) {
            refused.end(last);
        }

        @Override
        public void failed(Throwable cause) {
            if (refused != null) {
                refused.failed(cause);
            } else if (client != null) {
                log.debug("tunnel of {} ended: {}", request.uri(), cause.toString());
                client.close();
                closed();
            } else if (request.response().headWritten() || request.response().getStatusCode() == 101) {
                // ComfyUI hung up before the client's side was upgraded: the client must not be left open.
                request.connection().close();
            } else {
                badGateway(request, null, target, cause);
            }
        }

        private void closed() {
            if (open) {
                open = false;
                metrics.webSocketClosed();
                if (clientId != null) {
                    balancer.webSocketClosed(clientId, target);
                }
            }
        }
    }

    /** The client's Host stays; an HTTP/1.0 client may have sent none, and HTTP/1.1 requires one. */
    static void keepHost(HttpHeaders headers, Backend backend) {
        if (!headers.contains(HttpHeaderNames.HOST)) {
            headers.set(HttpHeaderNames.HOST, backend.address().host() + ":" + backend.address().port());
        }
    }

    private static void addForwardedHeaders(HttpServerRequest request, HttpHeaders to) {
        addForwardedHeaders(to, clientAddress(request), request.isSSL(), request.authority() == null ? null : request.authority().toString());
    }

    /** Adds the client's address to the X-Forwarded-For that {@code headers} has (from the client, or none). */
    static void addForwardedHeaders(HttpHeaders headers, String clientAddress, boolean ssl, String host) {
        String previous = headers.get(X_FORWARDED_FOR);
        headers.set(X_FORWARDED_FOR, previous == null ? clientAddress : previous + ", " + clientAddress);
        headers.set(X_FORWARDED_PROTO, ssl ? "https" : "http");
        if (host != null) {
            headers.set(X_FORWARDED_HOST, host);
        }
    }

    private static String clientAddress(HttpServerRequest request) {
        return request.remoteAddress() == null ? "unknown" : request.remoteAddress().hostAddress();
    }

    private static void stripLoopbackCredentials(HttpServerRequest request, HttpHeaders to) {
        stripLoopbackCredentials(clientAddress(request), to);
    }

    static void stripLoopbackCredentials(String clientAddress, HttpHeaders headers) {
        if (!isLoopback(clientAddress)) {
            for (String header : LOOPBACK_TRUSTED) {
                headers.remove(header);
            }
        }
    }

    private static boolean isLoopback(String address) {
        return address.startsWith("127.") || address.equals("::1") || address.equals("0:0:0:0:0:0:0:1");
    }

    private static boolean hasBody(HttpServerRequest request) {
        String length = request.headers().get(HttpHeaderNames.CONTENT_LENGTH);
        if (length != null) {
            return !length.strip().equals("0");
        }
        String encoding = request.headers().get(HttpHeaderNames.TRANSFER_ENCODING);
        return encoding != null && encoding.toLowerCase(Locale.ROOT).contains("chunked");
    }

    static boolean isWebSocketUpgrade(HttpServerRequest request) {
        String upgrade = request.headers().get(HttpHeaderNames.UPGRADE);
        String connection = request.headers().get(HttpHeaderNames.CONNECTION);
        return request.method() == HttpMethod.GET && upgrade != null && upgrade.equalsIgnoreCase("websocket")
                && connection != null && connection.toLowerCase(Locale.ROOT).contains("upgrade");
    }

    private void reject(HttpServerRequest request, UploadTap.Body upload, Throwable cause) {
        if (upload != null) {
            upload.decline();
        }
        request.resume();
        HttpServerResponse response = request.response();
        if (cause instanceof RejectedException rejected) {
            Rejection rejection = rejected.rejection();
            response.setStatusCode(rejection.status()).headers().addAll(rejection.headers());
            response.putHeader(HttpHeaderNames.CONTENT_TYPE, rejection.contentType()).end(rejection.body());
        } else {
            log.warn("proxy policy failed for {} {}", request.method(), request.uri(), cause);
            error(response, 500, "comfyctl could not decide how to handle this request: " + cause);
        }
    }

    private void badGateway(HttpServerRequest request, UploadTap.Body upload, Backend backend, Throwable cause) {
        if (upload != null) {
            upload.decline();
        }
        request.resume();
        HttpServerResponse response = request.response();
        if (response.headWritten() || response.closed()) {
            response.reset();
            return;
        }
        error(response, 502, didNotAnswer(backend, request.method().name(), request.path(), cause));
    }

    static String didNotAnswer(Backend backend, String method, String path, Throwable cause) {
        return "ComfyUI " + backend.name() + " at " + backend.address() + " did not answer " + method + " " + path
                + ": " + cause.getMessage() + " (not retried)";
    }

    private static void error(HttpServerResponse response, int status, String message) {
        if (!response.closed()) {
            response.setStatusCode(status).putHeader(HttpHeaderNames.CONTENT_TYPE, "application/json")
                    .end(new JsonObject().put("error", message).encode());
        }
    }

    @Override
    public void close() {
        upstreams.close();
    }
}
