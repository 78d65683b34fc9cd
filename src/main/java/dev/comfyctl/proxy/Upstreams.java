package dev.comfyctl.proxy;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.vertx.core.Vertx;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.net.SocketAddress;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

/**
 * The proxy's connections to its backends, written on Netty directly, kept alive and pooled per event loop:
 * an exchange runs on the loop of the request it serves, so it crosses no thread, no connection-pool lock
 * and no promise chain. (Vert.x's HTTP client does all that for every request; the proxy serving small GETs
 * spent about a fifth of its time there, measured by {@code bench/proxy.sh}.)
 */
final class Upstreams implements AutoCloseable {
    /**
     * A pooled connection idle for longer is closed rather than reused: ComfyUI's server (aiohttp) closes idle
     * connections after 75 s, and a request sent as it does so would fail, and is never re-sent.
     */
    private static final long KEEP_ALIVE_NANOS = TimeUnit.SECONDS.toNanos(30);
    private static final int CONNECT_TIMEOUT_MILLIS = 5_000;

    private final Map<EventLoop, Map<SocketAddress, ArrayDeque<Upstream>>> idle = new ConcurrentHashMap<>();
    private final ChannelGroup open = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
    private final ChannelFactory<? extends Channel> channels;
    private final long timeoutSeconds;

    /** @param timeout how long an exchange may go without a byte moving either way before its connection is cut */
    Upstreams(Vertx vertx, Duration timeout) {
        this.channels = ((VertxInternal) vertx).transport().channelFactory(false);
        this.timeoutSeconds = Math.max(1, timeout.toSeconds());
    }

    /**
     * A connection to {@code backend} on {@code loop}, pooled or new; {@code then} gets it, or why there is none.
     * Must be called on that loop, and the connection used only there.
     */
    void connect(EventLoop loop, SocketAddress backend, BiConsumer<Upstream, Throwable> then) {
        ArrayDeque<Upstream> pool = idle.computeIfAbsent(loop, l -> new HashMap<>()).computeIfAbsent(backend, b -> new ArrayDeque<>());
        long now = System.nanoTime();
        for (Upstream pooled; (pooled = pool.poll()) != null; ) {
            if (pooled.usable(now, KEEP_ALIVE_NANOS)) {
                then.accept(pooled, null);
                return;
            }
            pooled.close();
        }
        ChannelFuture connecting = new Bootstrap().group(loop).channelFactory(channels)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, CONNECT_TIMEOUT_MILLIS)
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel channel) {
                        open.add(channel);
                        Upstream.install(channel, pool, timeoutSeconds);
                    }
                })
                .connect(backend.host(), backend.port());
        connecting.addListener(connected -> {
            if (connected.isSuccess()) {
                then.accept(connecting.channel().pipeline().get(Upstream.class), null);
            } else {
                then.accept(null, connected.cause());
            }
        });
    }

    /** Closes every connection, pooled or in use. */
    @Override
    public void close() {
        open.close();
    }
}
