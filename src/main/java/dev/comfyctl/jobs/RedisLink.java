package dev.comfyctl.jobs;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The client to one Redis (QUEUE_URL), used from blocking callers: each call waits for its answer, bounded.
 * Calls go over one connection, taken from the pool once and kept: concurrent callers' commands are pipelined on it
 * (Redis answers in order), where the pool's take and give back around every command cost more than the command
 * (the pool still serves the subscriber's connection). A connection that ends, or leaves a call unanswered, is
 * replaced at the next call.
 * Messages name the server by host and port only, since the URL may carry a password.
 */
final class RedisLink implements AutoCloseable {
    static final Duration ANSWER_TIMEOUT = Duration.ofSeconds(10);
    private static final Logger log = LoggerFactory.getLogger(RedisLink.class);

    private final Vertx vertx;
    private final Redis client;
    private final URI url;
    private final String where;
    private final Object connecting = new Object();
    private volatile RedisConnection connection;

    /** @throws JobStoreException when it does not answer PING */
    RedisLink(Vertx vertx, URI url) {
        this.vertx = vertx;
        this.url = url;
        this.where = "Redis at " + url.getHost() + ":" + (url.getPort() == -1 ? 6379 : url.getPort()) + " (QUEUE_URL)";
        this.client = Redis.createClient(vertx, new RedisOptions().setConnectionString(url.toString())
                .setMaxPoolSize(16).setMaxPoolWaiting(256));
        try {
            send(Request.cmd(Command.PING));
        } catch (JobStoreException e) {
            client.close();
            throw new JobStoreException("cannot reach " + where + ": " + e.getCause().getMessage()
                    + " (start redis-server there, or fix QUEUE_URL; empty QUEUE_URL = the embedded queue)", e.getCause());
        }
    }

    Vertx vertx() {
        return vertx;
    }

    Redis client() {
        return client;
    }

    URI url() {
        return url;
    }

    /** Who this is, for messages: host and port, never the password. */
    String where() {
        return where;
    }

    Response send(Request request) {
        RedisConnection current = connection();
        return over(current, current.send(request), request.command().toString());
    }

    List<Response> batch(List<Request> requests) {
        if (requests.isEmpty()) {
            return List.of();
        }
        RedisConnection current = connection();
        return over(current, current.batch(requests), "a batch of " + requests.size());
    }

    /** An answer that does not come in time may never come (a connection silently gone): the next call connects anew. */
    private <T> T over(RedisConnection current, Future<T> answer, String what) {
        try {
            return await(answer, what);
        } catch (JobStoreException e) {
            if (e.getCause() instanceof TimeoutException) {
                forget(current);
                current.close();
            }
            throw e;
        }
    }

    /** The shared connection, connected first when there is none (at the first call, or after it ended). */
    private RedisConnection connection() {
        RedisConnection current = connection;
        if (current != null) {
            return current;
        }
        synchronized (connecting) {
            if (connection == null) {
                RedisConnection fresh = await(client.connect(), "CONNECT");
                fresh.exceptionHandler(e -> log.debug("connection to {}: {}", where, e.toString()));
                fresh.endHandler(ended -> forget(fresh));
                connection = fresh;
            }
            return connection;
        }
    }

    private void forget(RedisConnection ended) {
        synchronized (connecting) {
            if (connection == ended) {
                connection = null;
            }
        }
    }

    /**
     * Waits for a Redis answer on the calling thread.
     *
     * @throws IllegalStateException on an event loop, which must never wait
     * @throws JobStoreException when Redis fails it or does not answer in time
     */
    <T> T await(Future<T> future, String what) {
        if (Context.isOnEventLoopThread()) {
            throw new IllegalStateException("the job store blocks: call it from a worker thread, not an event loop");
        }
        try {
            return future.toCompletionStage().toCompletableFuture().get(ANSWER_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new JobStoreException("interrupted while waiting for " + where, e);
        } catch (ExecutionException e) {
            throw new JobStoreException(where + " failed " + what + ": " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new JobStoreException(where + " did not answer " + what + " within " + ANSWER_TIMEOUT.toSeconds() + " s", e);
        }
    }

    @Override
    public void close() {
        client.close();
    }
}
