package dev.comfyctl.web;

import dev.comfyctl.jobs.Job;
import dev.comfyctl.jobs.JobView;
import dev.comfyctl.jobs.JobState;
import dev.comfyctl.jobs.JobStore;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.atomic.AtomicBoolean;

/** One client's {@code GET /jobs/{id}/events}: see {@link JobRoutes}. */
final class JobEventStream {
    private static final Logger log = LoggerFactory.getLogger(JobEventStream.class);
    private static final long STATE_POLL_MS = 1000;

    private final Vertx vertx;
    private final JobStore store;
    private final SseClient client;
    private final String id;
    private final AtomicBoolean ended = new AtomicBoolean();
    private volatile JobState lastState;
    private volatile double lastProgress = -1;
    private volatile AutoCloseable subscription;
    private volatile long timer = -1;
    private volatile boolean polling;

    JobEventStream(Vertx vertx, JobStore store, SseClient client, Job job) {
        this.vertx = vertx;
        this.store = store;
        this.client = client;
        this.id = job.id();
        this.lastState = job.state();
        client.open();
        client.send("job", json(job));
    }

    void start() {
        if (lastState.finished()) {
            client.end();
            return;
        }
        subscription = store.subscribe(id, event -> {
            JsonObject data;
            try {
                data = new JsonObject(event.json());
            } catch (RuntimeException e) {
                data = new JsonObject().put("raw", event.json());
            }
            client.send(event.type(), data.put("at", event.at().toString()));
        });
        timer = vertx.setPeriodic(STATE_POLL_MS, t -> poll());
    }

    private void poll() {
        if (client.closed()) {
            end();
            return;
        }
        if (polling) {
            return;
        }
        polling = true;
        vertx.executeBlocking(() -> store.find(id), false).onComplete(result -> {
            polling = false;
            if (result.failed() || result.result().isEmpty()) {
                return;
            }
            Job job = result.result().get();
            if (job.state() != lastState || job.progress() != lastProgress) {
                lastState = job.state();
                lastProgress = job.progress();
                client.send("job", json(job));
            }
            if (job.state().finished()) {
                end();
                client.end();
            }
        });
    }

    private static JsonObject json(Job job) {
        return new JsonObject(JobView.of(job).toString());
    }

    private void end() {
        if (ended.getAndSet(true)) {
            return;
        }
        vertx.cancelTimer(timer);
        try {
            if (subscription != null) {
                subscription.close();
            }
        } catch (Exception e) {
            log.debug("closing the subscription of job {} failed: {}", id, e.toString());
        }
    }
}
