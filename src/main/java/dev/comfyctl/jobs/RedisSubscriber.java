package dev.comfyctl.jobs;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiConsumer;

/**
 * One dedicated Redis connection in subscriber mode (a subscribed connection can send nothing else, so it is not
 * the pooled client's). When Redis goes away it reconnects every second and subscribes to the same channels again;
 * what was published meanwhile is lost, which the job store's polling and {@code find()} make up for.
 */
final class RedisSubscriber implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RedisSubscriber.class);
    private static final long RECONNECT_MILLIS = 1000;

    private final RedisLink link;
    private final BiConsumer<String, String> onMessage;
    private final Set<String> channels = ConcurrentHashMap.newKeySet();
    /**
     * Channels subscribed to and not yet confirmed by Redis. The client completes a SUBSCRIBE's future before Redis has
     * answered (the answer comes to the handler), and a message published in between is lost: a job's subscriber
     * once missed the job's first state change that way.
     */
    private final Map<String, Promise<Void>> unconfirmed = new ConcurrentHashMap<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    /** The connection, or while there is none, the promise of the next one. */
    private volatile Promise<RedisConnection> connection = Promise.promise();

    /** @param onMessage gets (channel, message) on an event loop */
    RedisSubscriber(RedisLink link, BiConsumer<String, String> onMessage, String... initialChannels) {
        this.link = link;
        this.onMessage = onMessage;
        channels.addAll(Set.of(initialChannels));
        connect();
        try {
            link.await(connection.future(), "SUBSCRIBE");
        } catch (RuntimeException e) {
            closed.set(true);
            throw e;
        }
    }

    /** Subscribes, once connected (again); the returned future completes when Redis confirmed it. */
    Future<?> subscribe(String channel) {
        channels.add(channel);
        Promise<Void> confirmed = unconfirmed.computeIfAbsent(channel, c -> Promise.promise());
        connection.future().compose(c -> c.send(Request.cmd(Command.SUBSCRIBE).arg(channel))).onFailure(e -> {
            unconfirmed.remove(channel, confirmed);
            confirmed.tryFail(e);
        });
        return confirmed.future();
    }

    void unsubscribe(String channel) {
        channels.remove(channel);
        connection.future().compose(c -> c.send(Request.cmd(Command.UNSUBSCRIBE).arg(channel)))
                .onFailure(e -> log.debug("unsubscribing from {}: {}", channel, e.toString()));
    }

    private void connect() {
        Promise<RedisConnection> pending = connection;
        link.client().connect().compose(c -> {
            c.handler(this::handle);
            c.exceptionHandler(e -> log.debug("event connection to {}: {}", link.where(), e.toString()));
            c.endHandler(ended -> {
                if (!closed.get()) {
                    log.warn("lost the job event connection to {}; reconnecting", link.where());
                    connection = Promise.promise();
                    reconnectLater();
                }
            });
            Request subscribe = Request.cmd(Command.SUBSCRIBE);
            channels.forEach(subscribe::arg);
            return c.send(subscribe).map(c);
        }).onSuccess(pending::tryComplete).onFailure(e -> {
            log.warn("cannot subscribe to job events at {}: {}; retrying", link.where(), e.toString());
            reconnectLater();
        });
    }

    private void reconnectLater() {
        if (!closed.get()) {
            link.vertx().setTimer(RECONNECT_MILLIS, id -> {
                if (!closed.get()) {
                    connect();
                }
            });
        }
    }

    private void handle(Response message) {
        if (message.size() >= 3 && "message".equals(message.get(0).toString())) {
            onMessage.accept(message.get(1).toString(), message.get(2).toString());
        } else if (message.size() >= 2 && "subscribe".equals(message.get(0).toString())) {
            Promise<Void> confirmed = unconfirmed.remove(message.get(1).toString());
            if (confirmed != null) {
                confirmed.tryComplete();
            }
        }
    }

    @Override
    public void close() {
        if (closed.getAndSet(true)) {
            return;
        }
        connection.future().onSuccess(RedisConnection::close);
    }
}
