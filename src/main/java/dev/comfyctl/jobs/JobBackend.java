package dev.comfyctl.jobs;

import dev.comfyctl.config.Config;
import io.vertx.core.Vertx;

import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;

/**
 * The queue a daemon works from and the fleet it belongs to, as QUEUE_URL chooses: the embedded SQLite file in
 * the state directory when it is empty, else the Redis it names.
 */
public record JobBackend(JobStore store, Fleet fleet) implements AutoCloseable {
    /** A machine whose heartbeats stopped this long ago is gone from the fleet: send them several times as often. */
    public static final Duration FLEET_TIME_TO_LIVE = Duration.ofSeconds(30);

    /**
     * Opens the backend; blocking.
     *
     * @throws JobStoreException when the file cannot be opened or Redis does not answer, saying what to do
     */
    public static JobBackend open(Config config, Vertx vertx) {
        Optional<URI> redis = config.queueUrl();
        if (redis.isEmpty()) {
            return new JobBackend(new SqliteJobStore(config.jobsDb(), config.jobMaxAttempts()),
                    new EmbeddedFleet(FLEET_TIME_TO_LIVE, Clock.systemUTC()));
        }
        JobStore store = new RedisJobStore(vertx, redis.get(), config.jobMaxAttempts());
        try {
            return new JobBackend(store, new RedisFleet(vertx, redis.get(), FLEET_TIME_TO_LIVE));
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
    }

    /** The fleet first, then the store. */
    @Override
    public void close() {
        fleet.close();
        store.close();
    }
}
