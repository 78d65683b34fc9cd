package dev.comfyctl.proxy;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOption;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One kept-alive HTTP/1.1 connection to a backend, used by one {@link Exchange} at a time and, after a
 * {@code 101}, turned into a byte tunnel. Lives on one event loop, the one of the requests it serves: nothing
 * here is touched from another thread.
 */
final class Upstream extends ChannelDuplexHandler {
    /** Writes queue up to this much before {@link #writable()} turns false and the client is paused. */
    private static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(128 * 1024, 512 * 1024);
    /** Bodies come in pieces of up to {@link ReverseProxy#CHUNK_SIZE}: Netty's default of 8 KiB costs bulk transfers. */
    private static final HttpDecoderConfig DECODER = new HttpDecoderConfig().setMaxChunkSize(ReverseProxy.CHUNK_SIZE);

    /** What a connection reports to whoever uses it; called on its event loop. */
    interface Exchange {
        /** The response's status line and headers. */
        void head(HttpResponse head);

        /** A piece of the body, or after {@link #tunnel()} a piece of the stream; the exchange releases it. */
        void content(ByteBuf piece);

        /** The body's last piece, perhaps empty; the exchange releases it. Never called on a tunnel. */
        void end(ByteBuf last);

        /** The connection failed or closed before {@link #end(ByteBuf)}; it is already closed. */
        void failed(Throwable cause);

        /** A read from the backend ended: what was held back for the rest of it is to go out now. */
        default void readComplete() {
        }
    }

    private final Channel channel;
    private final ArrayDeque<Upstream> pool;
    private final long timeoutSeconds;
    private Exchange exchange;
    private boolean requestSent;
    private boolean responseDone;
    private boolean reusable;
    /** A 1xx other than 101 was read: its (empty) end is not the exchange's. */
    private boolean informational;
    /** A 101 was read and the exchange has not called {@link #tunnel()} yet. */
    private boolean upgrading;
    private final ArrayDeque<ByteBuf> readWhileUpgrading = new ArrayDeque<>(0);
    private boolean tunnel;
    private Runnable onWritable;
    private long idleSince;

    private Upstream(Channel channel, ArrayDeque<Upstream> pool, long timeoutSeconds) {
        this.channel = channel;
        this.pool = pool;
        this.timeoutSeconds = timeoutSeconds;
    }

    /** Sets up a new connection's pipeline; {@code pool} is where it goes back between exchanges. */
    static Upstream install(Channel channel, ArrayDeque<Upstream> pool, long timeoutSeconds) {
        Upstream upstream = new Upstream(channel, pool, timeoutSeconds);
        channel.config().setOption(ChannelOption.TCP_NODELAY, true);
        channel.config().setWriteBufferWaterMark(WATER_MARK);
        channel.pipeline().addLast(new HttpClientCodec(DECODER, false, false), new IdleStateHandler(0, 0, timeoutSeconds, TimeUnit.SECONDS), upstream);
        return upstream;
    }

    /**
     * Starts an exchange. A {@link FullHttpRequest} goes out whole; of any other request the head goes out now, its
     * body with {@link #write} and {@link #end}.
     */
    void send(HttpRequest request, Exchange exchange) {
        this.exchange = exchange;
        responseDone = false;
        requestSent = request instanceof FullHttpRequest;
        if (requestSent) {
            channel.writeAndFlush(request, channel.voidPromise());
        } else {
            channel.write(request, channel.voidPromise());
        }
    }

    void write(ByteBuf piece) {
        channel.writeAndFlush(tunnel ? piece : new DefaultHttpContent(piece), channel.voidPromise());
    }

    /** A piece of the request's body, sent on the next {@link #flush()} or {@link #end()}: a read's pieces go in one write. */
    void feed(ByteBuf piece) {
        channel.write(new DefaultHttpContent(piece), channel.voidPromise());
    }

    void flush() {
        channel.flush();
    }

    /** The request is complete. */
    void end() {
        channel.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT, channel.voidPromise());
        requestSent = true;
        settle();
    }

    boolean writable() {
        return channel.isWritable();
    }

    /** Whether the connection is still open: once it is closed, whatever is written to it is dropped. */
    boolean open() {
        return channel.isActive();
    }

    /** Runs {@code then} once, when writes no longer queue up: the connection drained them, or closed and dropped them. */
    void whenWritable(Runnable then) {
        onWritable = then;
    }

    /** Stops or resumes reading the backend: the backpressure of a slow client. */
    void reading(boolean read) {
        channel.config().setAutoRead(read);
    }

    /** After a {@code 101}: from now on bytes pass as they are, both ways, until either side closes. */
    void tunnel() {
        tunnel = true;
        upgrading = false;
        channel.pipeline().remove(IdleStateHandler.class);
        // The codec hands on whatever it holds past the 101 as it leaves.
        channel.pipeline().remove(HttpClientCodec.class);
        Exchange current = exchange;
        for (ByteBuf early; (early = readWhileUpgrading.poll()) != null; ) {
            if (current != null) {
                current.content(early);
            } else {
                early.release();
            }
        }
    }

    /** Closes the connection; an exchange in progress is not told (its caller knows why). */
    void close() {
        exchange = null;
        channel.close();
    }

    /** Whether a pooled connection may take an exchange: open, and not idle so long that the backend may be closing it. */
    boolean usable(long now, long keepAliveNanos) {
        return channel.isActive() && now - idleSince < keepAliveNanos;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object message) {
        if (message instanceof ByteBuf bytes) {  // only past a 101
            if (tunnel && exchange != null) {
                exchange.content(bytes);
            } else if (upgrading) {
                readWhileUpgrading.add(bytes);
            } else {
                bytes.release();
            }
            return;
        }
        if (message instanceof HttpResponse head && exchange != null) {
            int status = head.status().code();
            if (status / 100 == 1 && status != 101) {
                informational = true;  // a stray 100 Continue: Expect is never forwarded, so it is not the client's
            } else {
                upgrading = status == 101;
                reusable = !upgrading && HttpUtil.isKeepAlive(head);
                exchange.head(head);
            }
        }
        if (message instanceof HttpContent content) {
            boolean last = content instanceof LastHttpContent;
            // The (empty) end of a 101 may come after the exchange has already made the connection a tunnel.
            if (upgrading || tunnel || informational || exchange == null) {
                content.release();
                informational &= !last;
                return;
            }
            Exchange current = exchange;
            if (last) {
                exchange = null;
                responseDone = true;
                current.end(content.content());
                settle();
            } else if (content.content().isReadable()) {
                current.content(content.content());
            } else {
                content.release();
            }
        }
    }

    /** Once both the request and the response are complete, the connection goes back to its pool, or closes. */
    private void settle() {
        if (!requestSent || !responseDone) {
            return;
        }
        if (reusable && channel.isActive()) {
            idleSince = System.nanoTime();
            onWritable = null;
            pool.push(this);
        } else {
            channel.close();
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        Exchange current = exchange;
        if (current != null) {
            current.readComplete();
        }
        ctx.fireChannelReadComplete();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (channel.isWritable() && onWritable != null) {
            Runnable then = onWritable;
            onWritable = null;
            then.run();
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        pool.remove(this);
        Runnable waiting = onWritable;
        onWritable = null;
        if (waiting != null) {
            waiting.run();
        }
        readWhileUpgrading.forEach(ByteBuf::release);
        readWhileUpgrading.clear();
        fail(new IOException("the connection was closed"));
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        fail(cause);
        channel.close();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object event) {
        if (event instanceof IdleStateEvent) {
            fail(new TimeoutException("no bytes moved either way for " + timeoutSeconds + " s"));
            channel.close();
        }
    }

    private void fail(Throwable cause) {
        Exchange current = exchange;
        exchange = null;
        if (current != null) {
            current.failed(cause);
        }
    }
}
