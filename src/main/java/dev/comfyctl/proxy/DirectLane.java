package dev.comfyctl.proxy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.vertx.core.json.JsonObject;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.function.Predicate;

/**
 * Forwards the plain requests of a client connection on Netty's objects alone, past Vert.x's HTTP server: a request
 * without a body or an upgrade, for a path the server would hand the proxy unchecked, to a backend that admits it at
 * once. The backend gets the decoded request itself, its headers edited in place, and the client the backend's
 * response as it was read, its headers edited in place and its body pieces passed on as they are. Vert.x's request,
 * response and header objects for every proxied request were a third of the proxy's CPU per small request
 * ({@code bench/proxy.sh}). Everything else (comfyctl's own routes, a request that must wait for a wake or be refused,
 * uploads, WebSocket upgrades, HTTP/1.0) goes on to Vert.x as before.
 *
 * <p>The lane sits in each HTTP/1.x client connection's pipeline between the codec and Vert.x, and keeps the
 * responses in the order of the requests: it takes a request only while Vert.x owes none, and while its own exchange
 * runs it holds whatever the client sends next (pipelined) and stops reading, then hands it on in order.
 */
final class DirectLane extends ChannelDuplexHandler {
    private final ReverseProxy proxy;
    private final Predicate<String> forwardedUnchecked;
    private ChannelHandlerContext context;
    /** Requests handed to Vert.x whose final response it has not written yet. */
    private int owedByVertx;
    /** A request handed to Vert.x is still arriving (its body): what comes next is its. */
    private boolean vertxRequestArriving;
    /** Vert.x wrote an informational head (100 Continue): its end does not end a response. */
    private boolean vertxInterim;
    private Exchange exchange;
    /** The direct request's own (empty) end, still to be read and dropped. */
    private boolean dropEnd;
    /** What the client sent while an exchange ran, in order; the client is not read meanwhile. */
    private final ArrayDeque<Object> held = new ArrayDeque<>(0);
    private boolean paused;

    DirectLane(ReverseProxy proxy, Predicate<String> forwardedUnchecked) {
        this.proxy = proxy;
        this.forwardedUnchecked = forwardedUnchecked;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext context) {
        this.context = context;
    }

    @Override
    public void channelRead(ChannelHandlerContext context, Object message) {
        if (!held.isEmpty()) {
            hold(message);
        } else if (dropEnd && message instanceof HttpContent end) {
            dropEnd = !(end instanceof LastHttpContent);
            end.release();
        } else if (exchange != null) {
            hold(message);
        } else {
            take(message);
        }
    }

    /** Starts an exchange for a plain request, or hands the message on to Vert.x (then answers true). */
    private boolean take(Object message) {
        if (message instanceof HttpRequest head && owedByVertx == 0 && !vertxRequestArriving) {
            String path = plainPath(head);
            String method = head.method().name();
            Backend backend = path == null || !forwardedUnchecked.test(path) ? null : proxy.admitNow(method, path);
            if (backend != null) {
                dropEnd = !(head instanceof LastHttpContent);
                exchange = new Exchange(head, method, path, backend);
                exchange.start();
                return false;
            }
        }
        if (message instanceof HttpRequest) {
            owedByVertx++;
            vertxRequestArriving = !(message instanceof LastHttpContent);
        } else if (message instanceof LastHttpContent) {
            vertxRequestArriving = false;
        }
        context.fireChannelRead(message);
        return true;
    }

    /** The request's path when it is plain: HTTP/1.1, kept alive, no body, no upgrade, an origin-form target. */
    private static String plainPath(HttpRequest head) {
        HttpHeaders headers = head.headers();
        String uri = head.uri();
        if (!head.decoderResult().isSuccess() || head.protocolVersion() != HttpVersion.HTTP_1_1 || !uri.startsWith("/")
                || uri.indexOf('#') >= 0 || headers.contains(HttpHeaderNames.UPGRADE) || headers.contains(HttpHeaderNames.EXPECT)
                || headers.contains(HttpHeaderNames.TRANSFER_ENCODING) || !HttpUtil.isKeepAlive(head)) {
            return null;
        }
        String length = headers.get(HttpHeaderNames.CONTENT_LENGTH);
        if (length != null && !length.strip().equals("0")) {
            return null;
        }
        int query = uri.indexOf('?');
        return query < 0 ? uri : uri.substring(0, query);
    }

    /** The exchange ended: what the client sent meanwhile is taken in order, and the client is read again. */
    private void ended() {
        exchange = null;
        boolean toVertx = false;
        for (Object message; exchange == null && (message = held.poll()) != null; ) {
            if (dropEnd && message instanceof HttpContent end) {
                dropEnd = !(end instanceof LastHttpContent);
                end.release();
                continue;
            }
            toVertx |= take(message);
        }
        if (toVertx) {
            // Outside a read of its own, Vert.x flushes what it wrote at the end of one.
            context.fireChannelReadComplete();
        }
        if (exchange == null) {
            resume();
        }
    }

    @Override
    public void write(ChannelHandlerContext context, Object message, ChannelPromise promise) {
        // Only Vert.x's writes pass here: the lane writes from its own place in the pipeline, below this.
        if (message instanceof HttpResponse head) {
            int status = head.status().code();
            vertxInterim = status / 100 == 1 && status != 101;
        }
        if (message instanceof LastHttpContent) {
            if (vertxInterim) {
                vertxInterim = false;
            } else if (owedByVertx > 0) {
                owedByVertx--;
            }
        }
        context.write(message, promise);
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext context) {
        if (exchange != null && context.channel().isWritable()) {
            exchange.upstreamReading(true);
        }
        context.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext context) {
        held.forEach(ReferenceCountUtil::release);
        held.clear();
        if (exchange != null) {
            exchange.clientLeft();
        }
        context.fireChannelInactive();
    }

    private void hold(Object message) {
        held.add(message);
        // Set each time: the upload tap may have resumed reading for a body of its own meanwhile.
        paused = true;
        context.channel().config().setAutoRead(false);
    }

    private void resume() {
        if (paused) {
            paused = false;
            context.channel().config().setAutoRead(true);
        }
    }

    /** One request forwarded past Vert.x, from its head to the end of its response. */
    private final class Exchange implements Upstream.Exchange {
        private final HttpRequest request;
        private final String method;
        private final String path;
        private final Backend backend;
        private final long arrived = System.nanoTime();
        private Upstream upstream;
        /** The backend's response head, not written yet. */
        private HttpResponse head;
        private boolean headWritten;
        private boolean done;
        private int status;
        private long bytesOut;

        Exchange(HttpRequest request, String method, String path, Backend backend) {
            this.request = request;
            this.method = method;
            this.path = path;
            this.backend = backend;
        }

        void start() {
            HttpHeaders headers = request.headers();
            HopByHop.strip(headers);
            String client = clientAddress();
            ReverseProxy.addForwardedHeaders(headers, client, false, headers.get(HttpHeaderNames.HOST));
            ReverseProxy.stripLoopbackCredentials(client, headers);
            ReverseProxy.keepHost(headers, backend);
            DefaultFullHttpRequest outgoing = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, request.method(), request.uri(),
                    Unpooled.EMPTY_BUFFER, headers, EmptyHttpHeaders.INSTANCE);
            proxy.upstreams().connect(context.channel().eventLoop(), backend.address(), (connected, failure) -> {
                if (failure != null) {
                    failed(failure);
                } else if (done) {
                    // The client left while the connection was made: it goes back unused.
                    connected.close();
                } else {
                    upstream = connected;
                    upstream.send(outgoing, this);
                }
            });
        }

        private String clientAddress() {
            SocketAddress remote = context.channel().remoteAddress();
            return remote instanceof InetSocketAddress inet && inet.getAddress() != null ? inet.getAddress().getHostAddress() : "unknown";
        }

        @Override
        public void head(HttpResponse answer) {
            status = answer.status().code();
            if (status == 101) {
                // Nothing asked to switch protocols: a backend that does anyway cannot be relayed.
                upstream.close();
                failed(new IllegalStateException("it switched protocols unasked"));
                return;
            }
            HopByHop.strip(answer.headers());
            answer.setProtocolVersion(HttpVersion.HTTP_1_1);
            // Held until the read that brought it ends: most answers end in that same read, and go out in one write.
            head = answer;
        }

        @Override
        public void content(ByteBuf piece) {
            writeHead(null);
            bytesOut += piece.readableBytes();
            context.writeAndFlush(new DefaultHttpContent(piece), context.voidPromise());
            if (!context.channel().isWritable()) {
                upstreamReading(false);
            }
        }

        @Override
        public void end(ByteBuf last) {
            bytesOut += last.readableBytes();
            if (head != null) {
                writeHead(last);
            } else {
                context.writeAndFlush(last.isReadable() ? new DefaultLastHttpContent(last) : release(last), context.voidPromise());
            }
            finish(status);
        }

        @Override
        public void readComplete() {
            if (head != null) {
                writeHead(null);
                context.flush();
            }
        }

        /**
         * Writes the held head, with the whole body when it is {@code wholeBody} (then with its length if the backend
         * gave none), else announcing a chunked body unless it has a length.
         */
        private void writeHead(ByteBuf wholeBody) {
            HttpResponse answer = head;
            if (answer == null) {
                return;
            }
            head = null;
            headWritten = true;
            HttpHeaders headers = answer.headers();
            boolean bodyless = method.equals("HEAD") || status == 204 || status == 304;
            boolean lengthUnknown = !bodyless && !headers.contains(HttpHeaderNames.CONTENT_LENGTH);
            if (wholeBody == null) {
                if (lengthUnknown) {
                    HttpUtil.setTransferEncodingChunked(answer, true);
                }
                context.write(answer, context.voidPromise());
                return;
            }
            if (lengthUnknown) {
                headers.set(HttpHeaderNames.CONTENT_LENGTH, wholeBody.readableBytes());
            }
            context.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, answer.status(), wholeBody, headers,
                    EmptyHttpHeaders.INSTANCE), context.voidPromise());
        }

        private static LastHttpContent release(ByteBuf empty) {
            empty.release();
            return LastHttpContent.EMPTY_LAST_CONTENT;
        }

        @Override
        public void failed(Throwable cause) {
            if (done) {
                return;
            }
            if (headWritten) {
                // Part of the response is out: the client can only learn of the failure by the connection closing, and
                // what it sent after this request is not to be started.
                held.forEach(ReferenceCountUtil::release);
                held.clear();
                finish(ProxyMetrics.ABORTED);
                context.close();
                return;
            }
            byte[] body = new JsonObject().put("error", ReverseProxy.didNotAnswer(backend, method, path, cause))
                    .encode().getBytes(StandardCharsets.UTF_8);
            DefaultFullHttpResponse answer = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.BAD_GATEWAY,
                    Unpooled.wrappedBuffer(body));
            answer.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json")
                    .set(HttpHeaderNames.CONTENT_LENGTH, body.length);
            bytesOut = body.length;
            context.writeAndFlush(answer, context.voidPromise());
            finish(502);
        }

        void upstreamReading(boolean read) {
            if (upstream != null) {
                upstream.reading(read);
            }
        }

        /** The client went away mid-exchange: the backend's connection cannot be reused. */
        void clientLeft() {
            if (!done) {
                if (upstream != null) {
                    upstream.close();
                }
                finish(ProxyMetrics.ABORTED);
            }
        }

        private void finish(int outcome) {
            done = true;
            proxy.metrics().requestCompleted(io.vertx.core.http.HttpMethod.valueOf(method), outcome,
                    System.nanoTime() - arrived, 0, bytesOut);
            if (exchange == this) {
                ended();
            }
        }
    }
}
