package dev.comfyctl.jobs;

import dev.comfyctl.testing.Ports;
import dev.comfyctl.testing.RedisServer;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

class RedisJobStoreTest extends JobStoreContract {
    @TempDir
    static Path dataDir;
    static RedisServer redis;
    static Vertx vertx;

    @BeforeAll
    static void startRedis() {
        redis = RedisServer.start(dataDir.resolve("redis"));
        vertx = Vertx.vertx();
    }

    @AfterAll
    static void stopRedis() {
        if (vertx != null) {
            vertx.close().await();
        }
        if (redis != null) {
            redis.close();
        }
    }

    @Override
    JobStore openStore(int maxAttempts) {
        return new RedisJobStore(vertx, redis.url(), maxAttempts);
    }

    @Override
    void crashBackend() {
        redis.kill();
        redis.start();
    }

    @Override
    JobStore open() throws Exception {
        if (store == null) {
            redis.flushAll();
        }
        return super.open();
    }

    /** Two daemons on one Redis: their workers never get the same job either. */
    @Override
    List<JobStore> claimingStores() throws Exception {
        return List.of(store, open());
    }

    @Test
    void twoDaemonsOnOneRedisShareJobsAndEvents() throws Exception {
        JobStore other = open();
        Job job = store.enqueue(spec("shared", 0));
        List<JobEvent> seenByFirst = new CopyOnWriteArrayList<>();
        store.subscribe(job.id(), seenByFirst::add);

        assertThat(other.find(job.id())).map(Job::state).contains(JobState.QUEUED);
        Lease lease = claim(other, "other-daemon-w1");
        assertThat(lease.jobId()).isEqualTo(job.id());
        other.progress(lease, 0.25, List.of(new JobEvent(job.id(), java.time.Instant.now(), "progress", "{\"value\":1,\"max\":4}")));
        assertThat(other.succeed(lease, List.of(output("from-other.png")))).isTrue();

        assertThat(store.find(job.id()).orElseThrow().outputs()).containsExactly(output("from-other.png"));
        await().atMost(LONG).untilAsserted(() -> assertThat(seenByFirst).extracting(JobEvent::type)
                .containsExactly("state", "progress", "state"));
        assertThat(seenByFirst.get(1).json()).isEqualTo("{\"value\":1,\"max\":4}");
        assertThat(seenByFirst.get(2).json()).contains("succeeded");
    }

    @Test
    void aWorkerOnOneDaemonTakesOverTheJobOfADeadWorkerOnTheOther() throws Exception {
        JobStore other = open();
        Job job = store.enqueue(spec("orphan", 0));
        Lease dying = store.claim("first-daemon-w1", SHORT_LEASE, Duration.ZERO).orElseThrow();

        Lease takeover = other.claim("second-daemon-w1", LONG, Duration.ofSeconds(20)).orElseThrow();

        assertThat(takeover.jobId()).isEqualTo(job.id());
        assertThat(takeover.attempt()).isEqualTo(2);
        assertThat(other.succeed(takeover, List.of(output("b.png")))).isTrue();
        assertThat(store.succeed(dying, List.of(output("a.png")))).isFalse();
        assertThat(store.find(job.id()).orElseThrow().outputs()).containsExactly(output("b.png"));
    }

    @Test
    void aClaimerOnOneDaemonIsWokenByAJobEnqueuedOnTheOther() throws Exception {
        JobStore other = open();
        Thread submitter = new Thread(() -> {
            await().pollDelay(Duration.ofMillis(300)).atMost(LONG).until(() -> true);
            other.enqueue(spec("remote", 0));
        });
        submitter.start();

        assertThat(store.claim("w1", LONG, Duration.ofSeconds(20))).isPresent();
        submitter.join();
    }

    @Test
    void anEnqueuePublishesAWakeOnlyWhileAClaimerWaits() throws Exception {
        List<String> wakes = new CopyOnWriteArrayList<>();
        try (RedisLink link = new RedisLink(vertx, redis.url());
             RedisSubscriber ignored = new RedisSubscriber(link, (channel, message) -> wakes.add(message), "comfyctl:wake")) {
            Job first = store.enqueue(spec("nobody-waits", 0));
            assertThat(claim(store, "w1").jobId()).isEqualTo(first.id());
            Job second = enqueueWhileAClaimWaits(link, "w2");
            Job third = store.enqueue(spec("the-waiting-claimer-got-its-job", 0));
            assertThat(claim(store, "w1").jobId()).isEqualTo(third.id());
            Job fourth = enqueueWhileAClaimWaits(link, "w3");

            // Messages on one channel arrive in order: the other jobs' wakes, had there been any, came before.
            await().atMost(LONG).untilAsserted(() -> assertThat(wakes).contains(fourth.id()));
            assertThat(wakes).containsExactly(second.id(), fourth.id());
        }
    }

    /** Enqueues once a claim of {@code worker} waits (the store is in {@code waiting}), and checks the claim gets the job. */
    private Job enqueueWhileAClaimWaits(RedisLink link, String worker) throws Exception {
        CompletableFuture<java.util.Optional<Lease>> waiting = CompletableFuture.supplyAsync(() -> {
            try {
                return store.claim(worker, LONG, Duration.ofSeconds(20));
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        await().atMost(LONG).until(() -> link.send(Request.cmd(Command.ZCARD).arg("comfyctl:waiting")).toLong() > 0);
        Job job = store.enqueue(spec("while-" + worker + "-waits", 0));
        assertThat(waiting.get(20, TimeUnit.SECONDS)).map(Lease::jobId).contains(job.id());
        return job;
    }

    @Test
    void concurrentCallsOfAStoreShareOneConnectionBesidesItsSubscriber() throws Exception {
        try (RedisLink link = new RedisLink(vertx, redis.url())) {
            long before = connectedClients(link);
            JobStore busy = open();
            List<CompletableFuture<Void>> callers = new java.util.ArrayList<>();
            for (int i = 0; i < 8; i++) {
                callers.add(CompletableFuture.runAsync(() -> {
                    for (int call = 0; call < 50; call++) {
                        busy.enqueue(spec("pipelined", 0));
                        busy.depth();
                    }
                }));
            }
            CompletableFuture.allOf(callers.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);

            assertThat(busy.depth()).isEqualTo(400);
            assertThat(connectedClients(link)).isEqualTo(before + 2);
        }
    }

    private static long connectedClients(RedisLink link) {
        return link.send(Request.cmd(Command.INFO).arg("clients")).toString().lines()
                .filter(line -> line.startsWith("connected_clients:"))
                .mapToLong(line -> Long.parseLong(line.substring("connected_clients:".length()).strip()))
                .findFirst().orElseThrow();
    }

    @Test
    void aStoreCarriesOnWhenRedisIsKilledAndRestartedUnderIt() throws Exception {
        JobStore other = open();
        Job job = store.enqueue(spec("survivor", 0));

        redis.kill();
        redis.start();

        await().atMost(LONG).ignoreExceptions().untilAsserted(() ->
                assertThat(store.find(job.id())).map(Job::state).contains(JobState.QUEUED));
        List<JobEvent> events = new CopyOnWriteArrayList<>();
        await().atMost(LONG).ignoreExceptions().until(() -> store.subscribe(job.id(), events::add) != null);
        Lease lease = await().atMost(LONG).ignoreExceptions().until(
                () -> other.claim("w1", LONG, Duration.ofSeconds(1)), java.util.Optional::isPresent).orElseThrow();
        assertThat(lease.jobId()).isEqualTo(job.id());
        await().atMost(LONG).untilAsserted(() -> assertThat(events).extracting(JobEvent::json)
                .anySatisfy(json -> assertThat(json).contains("running")));
    }

    @Test
    void aClosingStoreRemovesItsConsumersFromTheGroupButKeepsOneHoldingAJob() throws Exception {
        JobStore leaving = openStore(MAX_ATTEMPTS);
        store.enqueue(spec("done", 1));
        Job held = store.enqueue(spec("held", 0));
        assertThat(leaving.succeed(claim(leaving, "finished-worker"), List.of())).isTrue();
        assertThat(leaving.claim("holding-worker", SHORT_LEASE, LONG).orElseThrow().jobId()).isEqualTo(held.id());
        assertThat(consumers()).contains("finished-worker", "holding-worker");

        leaving.close();

        assertThat(consumers()).doesNotContain("finished-worker").contains("holding-worker");
        Lease reclaimed = store.claim("w2", LONG, LONG).orElseThrow();
        assertThat(reclaimed.jobId()).isEqualTo(held.id());
        assertThat(reclaimed.attempt()).isEqualTo(2);
    }

    /** The consumers of the group on every priority's stream. */
    private static List<String> consumers() {
        try (RedisLink link = new RedisLink(vertx, redis.url())) {
            List<String> names = new java.util.ArrayList<>();
            for (Response priority : link.send(Request.cmd(Command.ZRANGE).arg("comfyctl:priorities").arg(0).arg(-1))) {
                for (Response consumer : link.send(Request.cmd(Command.XINFO).arg("CONSUMERS")
                        .arg("comfyctl:queue:" + priority).arg("workers"))) {
                    names.add(consumer.isMap() ? consumer.get("name").toString() : consumer.get(1).toString());
                }
            }
            return names;
        }
    }

    @Test
    void anUnreachableRedisIsRefusedWithWhereAndWhatToDo() {
        URI nowhere = URI.create("redis://:s3cret@127.0.0.1:" + Ports.free() + "/0");

        assertThatThrownBy(() -> new RedisJobStore(vertx, nowhere, 3))
                .isInstanceOf(JobStoreException.class)
                .hasMessageContaining("127.0.0.1:" + nowhere.getPort())
                .hasMessageContaining("QUEUE_URL")
                .hasMessageNotContaining("s3cret");
    }

    @Test
    void theStoreRefusesToBlockAnEventLoop() throws Exception {
        CompletableFuture<Throwable> refused = new CompletableFuture<>();
        vertx.runOnContext(onEventLoop -> {
            try {
                store.depth();
                refused.complete(null);
            } catch (IllegalStateException e) {
                refused.complete(e);
            }
        });

        assertThat(refused.get(20, TimeUnit.SECONDS)).isInstanceOf(IllegalStateException.class).hasMessageContaining("event loop");
    }
}
