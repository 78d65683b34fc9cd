package dev.comfyctl.proxy;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.AttributeKey;
import io.netty.util.ReferenceCountUtil;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.net.impl.ConnectionBase;

import java.util.ArrayDeque;

/**
 * Takes the body of a proxied upload off Vert.x's path. Vert.x's HTTP server copies every piece of a request body
 * out of the pooled direct buffer Netty read it into, into a fresh heap buffer, and the connection to the backend
 * copied it back into direct memory: half the CPU of an upload. The tap sits in each client connection's pipeline,
 * just before Vert.x's own handler, and passes everything on untouched, except the body of a request the proxy
 * {@linkplain #claim claimed}: its pieces go to the backend's connection as Netty read them, and Vert.x sees only
 * the body's (empty) end, so that the request ends there as any other: the response, keep-alive and pipelining
 * stay Vert.x's.
 *
 * <p>A request can be claimed only while the tap hands its head to Vert.x, that is when Vert.x calls the proxy at
 * once: then no piece of its body can have reached Vert.x yet. A request that waited inside Vert.x (pipelined
 * behind another) may have some of its body queued there already; it is not claimed, and its body takes Vert.x's
 * way. The tap is installed when a connection is created, before it reads a byte, by the server's connection
 * handler {@link ReverseProxy#connectionHandler()}: installed later, it could not tell what Vert.x already holds.
 */
final class UploadTap extends ChannelInboundHandlerAdapter {
    static final String NAME = "uploadTap";
    private static final AttributeKey<UploadTap> TAP = AttributeKey.valueOf(UploadTap.class.getName());

    private ChannelHandlerContext context;
    /** The head being handed to Vert.x right now, while its request may be claimed. */
    private HttpRequest arriving;
    /** The claimed body whose pieces are arriving, if any. */
    private Body body;

    /**
     * Puts a tap in front of Vert.x's handler {@code vertx} on an HTTP/1.x connection (an HTTP/2 one has none: its
     * bodies take Vert.x's way).
     */
    static void install(ChannelHandlerContext vertx) {
        UploadTap tap = new UploadTap();
        vertx.pipeline().addBefore(vertx.name(), NAME, tap);
        vertx.channel().attr(TAP).set(tap);
    }

    /**
     * The body of {@code request}, taken off Vert.x's path; null when it cannot be: no tap on its connection, or
     * the request is not the one whose head is arriving. Must be called at once from the server's request handler.
     */
    static Body claim(HttpServerRequest request) {
        if (!(request.connection() instanceof ConnectionBase connection)) {
            return null;
        }
        UploadTap tap = connection.channel().attr(TAP).get();
        // Vert.x's request shares the decoded head's headers: they tell that the head arriving is this request's.
        if (tap == null || tap.body != null || tap.arriving == null || tap.arriving.headers() != request.headers()) {
            return null;
        }
        tap.body = tap.new Body();
        return tap.body;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext context) {
        this.context = context;
    }

    @Override
    public void channelRead(ChannelHandlerContext context, Object message) {
        if (body != null && body.holdsItsEnd) {
            // A pipelined request behind a body whose end is held: it must not overtake that end on its way to Vert.x.
            body.early.add(message);
        } else if (message instanceof HttpRequest head) {
            arriving = head;
            try {
                context.fireChannelRead(message);
            } finally {
                arriving = null;
            }
        } else if (body != null && message instanceof HttpContent content) {
            body.take(content);
        } else {
            context.fireChannelRead(message);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext context) {
        if (body != null) {
            body.flush();
        }
        context.fireChannelReadComplete();
    }

    @Override
    public void channelInactive(ChannelHandlerContext context) {
        if (body != null) {
            body.clientLeft();
        }
        context.fireChannelInactive();
    }

    private void reading(boolean read) {
        context.channel().config().setAutoRead(read);
    }

    /** The body of one claimed request, from its claim to its last piece. */
    final class Body {
        /**
         * Pieces read before the backend's connection was there, in order, and after the last of them whatever the
         * same read brought behind it; the client is not read meanwhile.
         */
        private final ArrayDeque<Object> early = new ArrayDeque<>(4);
        private boolean holdsItsEnd;
        private Upstream upstream;
        private boolean paused;
        private boolean ended;
        private boolean clientLeft;
        private long bytes;

        /** The body's bytes the tap sent on (Vert.x counts only those it delivers: a declined body's rest). */
        long bytes() {
            return bytes;
        }

        /**
         * From now on the body goes to {@code upstream}, whose request head has been sent; it is ended there with
         * the body's last piece.
         */
        void streamTo(Upstream upstream) {
            if (clientLeft) {
                upstream.close();
                return;
            }
            if (!current()) {
                return;
            }
            this.upstream = upstream;
            for (Object piece; !ended && (piece = early.poll()) != null; ) {
                send((HttpContent) piece);
            }
            if (ended) {
                handOver();
            } else {
                upstream.flush();
                resumeWhenWritable();
            }
        }

        /** The rest of the body takes Vert.x's way, which drops it: the request was refused, or its backend failed. */
        void decline() {
            if (!current()) {
                return;
            }
            body = null;
            handOver();
            resume();
        }

        /** What is held goes on to Vert.x, outside a read: it flushes its writes at the end of a read, so it gets one. */
        private void handOver() {
            for (Object held; (held = early.poll()) != null; ) {
                context.fireChannelRead(held);
            }
            context.fireChannelReadComplete();
        }

        private boolean current() {
            return body == this;
        }

        private void take(HttpContent content) {
            if (!content.decoderResult().isSuccess()) {
                // A malformed body: Vert.x answers it and closes the connection; the backend gets no partial body.
                if (upstream != null) {
                    upstream.close();
                }
                decline();
                context.fireChannelRead(content);
                return;
            }
            if (upstream == null) {
                early.add(content);
                holdsItsEnd = content instanceof LastHttpContent;
                pause();
            } else {
                send(content);
                if (!ended && upstream.open() && !upstream.writable()) {
                    pause();
                    upstream.whenWritable(this::resume);
                }
            }
        }

        private void send(HttpContent content) {
            HttpHeaders trailers = content instanceof LastHttpContent last ? last.trailingHeaders() : null;
            bytes += content.content().readableBytes();
            // A backend that has gone away gets nothing more: the rest is read and dropped (its client has its answer).
            if (content.content().isReadable() && upstream.open()) {
                upstream.feed(content.content());
            } else {
                content.release();
            }
            if (trailers != null) {
                upstream.end();
                end(trailers);
            }
        }

        /** Vert.x gets the body's end, with its trailers, and ends the request as it would have. */
        private void end(HttpHeaders trailers) {
            ended = true;
            body = null;
            resume();
            context.fireChannelRead(trailers.isEmpty() ? LastHttpContent.EMPTY_LAST_CONTENT
                    : new DefaultLastHttpContent(Unpooled.EMPTY_BUFFER, trailers));
        }

        private void flush() {
            if (upstream != null) {
                upstream.flush();
            }
        }

        private void resumeWhenWritable() {
            if (upstream.writable() || !upstream.open()) {
                resume();
            } else {
                upstream.whenWritable(this::resume);
            }
        }

        private void pause() {
            if (!paused) {
                paused = true;
                reading(false);
            }
        }

        private void resume() {
            if (paused) {
                paused = false;
                reading(true);
            }
        }

        private void clientLeft() {
            clientLeft = true;
            body = null;
            early.forEach(ReferenceCountUtil::release);
            early.clear();
            if (upstream != null && !ended) {
                upstream.close();
            }
        }
    }
}
