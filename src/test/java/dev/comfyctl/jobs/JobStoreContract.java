package dev.comfyctl.jobs;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * What every {@link JobStore} does, whatever keeps the jobs: each backend's test extends this with how to open a
 * store on its backend and how to bring that backend down and up again.
 */
abstract class JobStoreContract {
    static final Duration LONG = Duration.ofSeconds(30);
    static final Duration SHORT_LEASE = Duration.ofMillis(300);
    static final int MAX_ATTEMPTS = 3;

    private final List<JobStore> opened = new ArrayList<>();
    JobStore store;

    /** A new store on this test's backend (the same file, the same Redis): a daemon starting. */
    abstract JobStore openStore(int maxAttempts) throws Exception;

    /** Kills the backend without warning and brings it back (nothing to do for a file). */
    abstract void crashBackend() throws Exception;

    /** The stores concurrent workers claim from: this one, and on a shared backend other daemons' too. */
    List<JobStore> claimingStores() throws Exception {
        return List.of(store);
    }

    @BeforeEach
    void openFirstStore() throws Exception {
        store = open();
    }

    @AfterEach
    void closeStores() {
        opened.forEach(JobStore::close);
    }

    JobStore open() throws Exception {
        return closeAfterTest(openStore(MAX_ATTEMPTS));
    }

    JobStore closeAfterTest(JobStore store) {
        opened.add(store);
        return store;
    }

    static JobSpec spec(String name, int priority) {
        return new JobSpec("{\"1\":{\"class_type\":\"" + name + "\",\"inputs\":{}}}", priority, Optional.empty(), List.of());
    }

    static JobOutput output(String file) {
        return new JobOutput("9", file, "", "output", "jobs/" + file, 42, "ab".repeat(32));
    }

    Lease claim(JobStore from, String worker) throws InterruptedException {
        return from.claim(worker, LONG, Duration.ofSeconds(10)).orElseThrow(() -> new AssertionError(worker + " got no job"));
    }

    @Test
    void anEnqueuedJobIsFoundQueuedWithItsSpecAndInputs() {
        JobInput image = new JobInput("cat.png", "not really a png".getBytes(StandardCharsets.UTF_8));
        JobSpec spec = new JobSpec("{\"3\":{}}", 5, Optional.of("http://127.0.0.1:9/hook"), List.of(image));

        Job job = store.enqueue(spec);

        Job found = store.find(job.id()).orElseThrow();
        assertThat(found.state()).isEqualTo(JobState.QUEUED);
        assertThat(found.spec().prompt()).isEqualTo("{\"3\":{}}");
        assertThat(found.spec().priority()).isEqualTo(5);
        assertThat(found.spec().webhook()).contains("http://127.0.0.1:9/hook");
        assertThat(found.spec().inputs()).singleElement().satisfies(input -> {
            assertThat(input.name()).isEqualTo("cat.png");
            assertThat(input.content()).isEqualTo(image.content());
        });
        assertThat(found.attempts()).isZero();
        assertThat(found.worker()).isEmpty();
        assertThat(store.depth()).isEqualTo(1);
        assertThat(store.find("no-such-job")).isEmpty();
    }

    @Test
    void theJobsEnqueueAndClaimAnswerAreTheJobsAsStored() throws Exception {
        JobInput image = new JobInput("cat.png", "not really a png".getBytes(StandardCharsets.UTF_8));
        JobSpec spec = new JobSpec("{\"3\":{}}", 5, Optional.of("http://127.0.0.1:9/hook"), List.of(image));

        Job queued = store.enqueue(spec);

        assertThat(queued).usingRecursiveComparison().isEqualTo(store.find(queued.id()).orElseThrow());
        Lease lease = claim(store, "w1");
        assertThat(lease.job()).usingRecursiveComparison().isEqualTo(store.find(queued.id()).orElseThrow());
        assertThat(lease.job().state()).isEqualTo(JobState.RUNNING);
        assertThat(lease.job().worker()).contains("w1");
        assertThat(lease.job().startedAt()).isPresent();
        assertThat(lease.attempt()).isEqualTo(1);
    }

    @Test
    void listFiltersByStateNewestFirst() throws Exception {
        Job first = store.enqueue(spec("first", 0));
        Job second = store.enqueue(spec("second", 0));
        Job third = store.enqueue(spec("third", 0));
        Lease running = claim(store, "w1");

        assertThat(running.jobId()).isEqualTo(first.id());
        assertThat(store.list(Optional.empty(), 10)).extracting(Job::id).containsExactly(third.id(), second.id(), first.id());
        assertThat(store.list(Optional.of(JobState.QUEUED), 10)).extracting(Job::id).containsExactly(third.id(), second.id());
        assertThat(store.list(Optional.of(JobState.RUNNING), 10)).extracting(Job::id).containsExactly(first.id());
        assertThat(store.list(Optional.empty(), 1)).extracting(Job::id).containsExactly(third.id());
        assertThat(store.depth()).isEqualTo(2);
    }

    @Test
    void claimTakesTheHighestPriorityFirstThenTheOldest() throws Exception {
        Job lowOld = store.enqueue(spec("low-old", 0));
        Job highOld = store.enqueue(spec("high-old", 10));
        Job lowNew = store.enqueue(spec("low-new", 0));
        Job highNew = store.enqueue(spec("high-new", 10));
        Job middle = store.enqueue(spec("middle", 5));

        List<String> order = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            Lease lease = claim(store, "w1");
            order.add(lease.jobId());
            assertThat(store.succeed(lease, List.of())).isTrue();
        }

        assertThat(order).containsExactly(highOld.id(), highNew.id(), middle.id(), lowOld.id(), lowNew.id());
    }

    @Test
    void aClaimWaitsForAJobEnqueuedMeanwhile() throws Exception {
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Future<Optional<Lease>> waiting = pool.submit(() -> store.claim("w1", LONG, Duration.ofSeconds(20)));
            // The job must arrive while the claim waits: give it time to get there.
            await().pollDelay(Duration.ofMillis(200)).atMost(LONG).until(() -> true);
            assertThat(waiting).isNotDone();

            Job job = store.enqueue(spec("late", 0));

            Optional<Lease> lease = waiting.get(20, TimeUnit.SECONDS);
            assertThat(lease).map(Lease::jobId).contains(job.id());
            assertThat(lease.get().attempt()).isEqualTo(1);
            assertThat(lease.get().job().state()).isEqualTo(JobState.RUNNING);
            assertThat(lease.get().job().worker()).contains("w1");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aClaimGivesUpEmptyAfterItsWait() throws Exception {
        assertThat(store.claim("w1", LONG, Duration.ofMillis(300))).isEmpty();
        assertThat(store.claim("w1", LONG, Duration.ZERO)).isEmpty();
    }

    @Test
    void aJobWhoseLeaseExpiredIsReclaimedByAnotherWorkerAsAttemptTwo() throws Exception {
        Job job = store.enqueue(spec("slow", 0));
        Lease first = store.claim("dead-worker", SHORT_LEASE, Duration.ZERO).orElseThrow();

        Lease second = store.claim("w2", LONG, Duration.ofSeconds(20)).orElseThrow();

        assertThat(second.jobId()).isEqualTo(job.id());
        assertThat(second.attempt()).isEqualTo(2);
        assertThat(first.attempt()).isEqualTo(1);
        Job running = store.find(job.id()).orElseThrow();
        assertThat(running.state()).isEqualTo(JobState.RUNNING);
        assertThat(running.worker()).contains("w2");
        assertThat(running.attempts()).isEqualTo(2);
        assertThat(running.errors()).singleElement().asString().contains("dead-worker");
    }

    @Test
    void theLateFirstWorkersResultIsRefusedAndOneResultIsKept() throws Exception {
        Job job = store.enqueue(spec("twice", 0));
        Lease late = store.claim("late-worker", SHORT_LEASE, Duration.ZERO).orElseThrow();
        Lease taker = store.claim("w2", LONG, Duration.ofSeconds(20)).orElseThrow();

        assertThat(store.succeed(taker, List.of(output("taker.png")))).isTrue();
        assertThat(store.succeed(late, List.of(output("late.png")))).isFalse();
        assertThat(store.renew(late, LONG)).isFalse();
        assertThat(store.succeed(taker, List.of(output("again.png")))).isFalse();

        Job done = store.find(job.id()).orElseThrow();
        assertThat(done.state()).isEqualTo(JobState.SUCCEEDED);
        assertThat(done.outputs()).extracting(JobOutput::filename).containsExactly("taker.png");
        assertThat(done.outputs().get(0)).isEqualTo(output("taker.png"));
        assertThat(done.progress()).isEqualTo(1.0);
        assertThat(done.finishedAt()).isPresent();
    }

    @Test
    void theLateWorkerFinishingFirstIsRefusedToo() throws Exception {
        Job job = store.enqueue(spec("twice", 0));
        Lease late = store.claim("late-worker", SHORT_LEASE, Duration.ZERO).orElseThrow();
        Lease taker = store.claim("w2", LONG, Duration.ofSeconds(20)).orElseThrow();

        assertThat(store.succeed(late, List.of(output("late.png")))).isFalse();
        assertThat(store.fail(late, "late failure", true).state()).isEqualTo(JobState.RUNNING);
        assertThat(store.succeed(taker, List.of(output("taker.png")))).isTrue();

        assertThat(store.find(job.id()).orElseThrow().outputs()).extracting(JobOutput::filename).containsExactly("taker.png");
    }

    @Test
    void succeedingWithTheLastEventsRelaysThemBeforeTheFinalStateInOneCall() throws Exception {
        Job job = store.enqueue(spec("last-events", 0));
        List<JobEvent> events = new CopyOnWriteArrayList<>();
        store.subscribe(job.id(), events::add);
        Lease lease = claim(store, "w1");
        JobEvent success = new JobEvent(job.id(), java.time.Instant.now(), "execution_success", "{\"prompt_id\":\"p1\"}");
        JobEvent last = new JobEvent(job.id(), java.time.Instant.now(), "executing", "{\"node\":null,\"prompt_id\":\"p1\"}");

        assertThat(store.succeed(lease, 1.0, List.of(success, last), List.of(output("a.png")))).isTrue();

        await().atMost(LONG).untilAsserted(() -> assertThat(events).extracting(JobEvent::type)
                .containsExactly("state", "execution_success", "executing", "state"));
        assertThat(events.subList(1, 3)).containsExactly(success, last);
        assertThat(events.get(3).json()).contains("\"succeeded\"");
        Job done = store.find(job.id()).orElseThrow();
        assertThat(done.state()).isEqualTo(JobState.SUCCEEDED);
        assertThat(done.progress()).isEqualTo(1.0);
        assertThat(done.outputs()).containsExactly(output("a.png"));
    }

    @Test
    void aLateWorkerSucceedingWithItsLastEventsIsRefusedAndRelaysNothing() throws Exception {
        Job job = store.enqueue(spec("late-events", 0));
        Lease late = store.claim("late-worker", SHORT_LEASE, Duration.ZERO).orElseThrow();
        Lease taker = store.claim("w2", LONG, Duration.ofSeconds(20)).orElseThrow();
        List<JobEvent> events = new CopyOnWriteArrayList<>();
        store.subscribe(job.id(), events::add);

        JobEvent stale = new JobEvent(job.id(), java.time.Instant.now(), "executing", "{\"node\":\"9\"}");
        assertThat(store.succeed(late, 0.5, List.of(stale), List.of(output("late.png")))).isFalse();
        assertThat(store.succeed(taker, List.of(output("taker.png")))).isTrue();

        // Events of one job arrive in order: once the taker's success is seen, the late one's would have been.
        await().atMost(LONG).untilAsserted(() -> assertThat(events).extracting(JobEvent::type).contains("state"));
        assertThat(events).extracting(JobEvent::type).containsExactly("state");
        assertThat(store.find(job.id()).orElseThrow().outputs()).containsExactly(output("taker.png"));
    }

    @Test
    void aJobCancelledWhileRunningEndsCancelledWithItsLastProgressWhenItSucceedsWithItsLastEvents() throws Exception {
        Job job = store.enqueue(spec("cancel-then-succeed", 0));
        Lease lease = claim(store, "w1");
        store.cancel(job.id());

        JobEvent event = new JobEvent(job.id(), java.time.Instant.now(), "progress", "{\"value\":3,\"max\":4}");
        assertThat(store.succeed(lease, 0.75, List.of(event), List.of(output("unwanted.png")))).isFalse();

        Job cancelled = store.find(job.id()).orElseThrow();
        assertThat(cancelled.state()).isEqualTo(JobState.CANCELLED);
        assertThat(cancelled.outputs()).isEmpty();
        assertThat(cancelled.progress()).isEqualTo(0.75);
    }

    @Test
    void renewExtendsTheLeaseSoNobodyElseGetsTheJob() throws Exception {
        store.enqueue(spec("renewed", 0));
        Lease lease = store.claim("w1", SHORT_LEASE, Duration.ZERO).orElseThrow();

        for (int i = 0; i < 6; i++) {
            assertThat(store.renew(lease, Duration.ofSeconds(5))).isTrue();
            assertThat(store.claim("w2", LONG, Duration.ofMillis(100))).isEmpty();
        }
        assertThat(store.succeed(lease, List.of())).isTrue();
    }

    @Test
    void renewIsFalseOnceARunningJobIsCancelledAndTheJobEndsCancelled() throws Exception {
        Job job = store.enqueue(spec("cancel-me", 0));
        Lease lease = claim(store, "w1");

        Job requested = store.cancel(job.id()).orElseThrow();

        assertThat(requested.state()).isEqualTo(JobState.RUNNING);
        assertThat(requested.cancelRequested()).isTrue();
        assertThat(store.renew(lease, LONG)).isFalse();
        assertThat(store.succeed(lease, List.of(output("unwanted.png")))).isFalse();
        Job cancelled = store.find(job.id()).orElseThrow();
        assertThat(cancelled.state()).isEqualTo(JobState.CANCELLED);
        assertThat(cancelled.outputs()).isEmpty();
    }

    @Test
    void aQueuedJobIsCancelledAtOnceAndNeverClaimed() throws Exception {
        Job job = store.enqueue(spec("never", 0));

        assertThat(store.cancel(job.id())).map(Job::state).contains(JobState.CANCELLED);

        assertThat(store.claim("w1", LONG, Duration.ofMillis(300))).isEmpty();
        assertThat(store.depth()).isZero();
        assertThat(store.cancel(job.id())).map(Job::state).contains(JobState.CANCELLED);
        assertThat(store.cancel("no-such-job")).isEmpty();
    }

    @Test
    void aFinishedJobIsNotChangedByCancel() throws Exception {
        Job job = store.enqueue(spec("done", 0));
        assertThat(store.succeed(claim(store, "w1"), List.of(output("a.png")))).isTrue();

        assertThat(store.cancel(job.id())).map(Job::state).contains(JobState.SUCCEEDED);
    }

    @Test
    void aReleasedJobIsQueuedAgainWithoutCountingAnAttempt() throws Exception {
        Job job = store.enqueue(spec("drained", 0));
        Lease lease = claim(store, "w1");

        store.release(lease);

        Job released = store.find(job.id()).orElseThrow();
        assertThat(released.state()).isEqualTo(JobState.QUEUED);
        assertThat(released.attempts()).isZero();
        assertThat(released.worker()).isEmpty();
        assertThat(released.errors()).isEmpty();
        Lease again = claim(store, "w2");
        assertThat(again.jobId()).isEqualTo(job.id());
        assertThat(again.attempt()).isEqualTo(1);
        assertThat(store.succeed(lease, List.of())).isFalse();
    }

    @Test
    void retryableFailuresRequeueUntilTheLastAttemptDeadLettersWithEveryError() throws Exception {
        Job job = store.enqueue(spec("flaky", 0));

        Job afterFirst = store.fail(claim(store, "w1"), "ComfyUI crashed", true);
        assertThat(afterFirst.state()).isEqualTo(JobState.QUEUED);
        assertThat(afterFirst.attempts()).isEqualTo(1);
        assertThat(store.fail(claim(store, "w2"), "connection lost", true).state()).isEqualTo(JobState.QUEUED);
        assertThat(store.deadLetters(10)).isEmpty();
        Lease last = claim(store, "w3");
        assertThat(last.attempt()).isEqualTo(3);
        Job failed = store.fail(last, "ComfyUI crashed again", true);

        assertThat(failed.state()).isEqualTo(JobState.FAILED);
        assertThat(failed.errors()).containsExactly("ComfyUI crashed", "connection lost", "ComfyUI crashed again");
        assertThat(store.deadLetters(10)).singleElement().satisfies(dead -> {
            assertThat(dead.id()).isEqualTo(job.id());
            assertThat(dead.errors()).hasSize(3);
        });
        assertThat(store.claim("w4", LONG, Duration.ofMillis(200))).isEmpty();
    }

    @Test
    void aFinalFailureEndsTheJobAtTheFirstAttempt() throws Exception {
        Job job = store.enqueue(spec("broken", 0));

        Job failed = store.fail(claim(store, "w1"), "node 3: KSampler: out of range", false);

        assertThat(failed.state()).isEqualTo(JobState.FAILED);
        assertThat(failed.attempts()).isEqualTo(1);
        assertThat(store.deadLetters(10)).extracting(Job::id).containsExactly(job.id());
    }

    @Test
    void aJobWhoseWorkersKeepDyingIsDeadLetteredAfterMaxAttempts() throws Exception {
        Job job = store.enqueue(spec("cursed", 0));
        for (int attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
            Lease lease = store.claim("dying-" + attempt, SHORT_LEASE, Duration.ofSeconds(20)).orElseThrow();
            assertThat(lease.attempt()).isEqualTo(attempt);
        }

        await().atMost(LONG).untilAsserted(() -> {
            assertThat(store.claim("w", LONG, Duration.ofMillis(100))).isEmpty();
            assertThat(store.find(job.id()).orElseThrow().state()).isEqualTo(JobState.FAILED);
        });
        Job dead = store.deadLetters(10).get(0);
        assertThat(dead.id()).isEqualTo(job.id());
        assertThat(dead.errors()).hasSize(MAX_ATTEMPTS).allSatisfy(error -> assertThat(error).contains("lease"));
    }

    @Test
    void pruneRemovesFinishedJobsOlderThanTheCutoffOldestFirstAndNothingElse() throws Exception {
        Job succeeded = store.enqueue(spec("succeeded", 0));
        Job failed = store.enqueue(spec("failed", 0));
        Job cancelled = store.enqueue(spec("cancelled", 0));
        Job finishedLater = store.enqueue(spec("finished-later", 0));
        Job queued = store.enqueue(spec("queued", 0));
        store.cancel(cancelled.id());
        Thread.sleep(5);
        assertThat(store.succeed(claim(store, "w1"), List.of(output("a.png")))).isTrue();
        Thread.sleep(5);
        store.fail(claim(store, "w1"), "a final error", false);
        Lease running = claim(store, "w1");
        Thread.sleep(20);
        Instant cutoff = Instant.now();
        Thread.sleep(20);
        assertThat(store.succeed(running, List.of())).isTrue();

        assertThat(store.prune(cutoff, 2)).containsExactly(cancelled.id(), succeeded.id());
        assertThat(store.prune(cutoff, 10)).containsExactly(failed.id());
        assertThat(store.prune(cutoff, 10)).isEmpty();

        assertThat(store.find(succeeded.id())).isEmpty();
        assertThat(store.find(failed.id())).isEmpty();
        assertThat(store.find(cancelled.id())).isEmpty();
        assertThat(store.deadLetters(10)).isEmpty();
        assertThat(store.list(Optional.empty(), 10)).extracting(Job::id).containsExactly(queued.id(), finishedLater.id());
        assertThat(store.list(Optional.of(JobState.SUCCEEDED), 10)).extracting(Job::id).containsExactly(finishedLater.id());
        assertThat(store.depth()).isEqualTo(1);
        assertThat(claim(store, "w2").jobId()).isEqualTo(queued.id());
    }

    @Test
    void jobsOutputsAndErrorsSurviveTheBackendGoingDown() throws Exception {
        Job done = store.enqueue(spec("done", 3));
        Job retried = store.enqueue(spec("retried", 2));
        Job queued = store.enqueue(spec("queued", 1));
        assertThat(store.succeed(claim(store, "w1"), List.of(output("kept.png")))).isTrue();
        store.fail(claim(store, "w1"), "first try failed", true);
        store.fail(claim(store, "w1"), "second try failed", true);
        store.close();

        crashBackend();
        JobStore reopened = open();

        Job succeeded = reopened.find(done.id()).orElseThrow();
        assertThat(succeeded.state()).isEqualTo(JobState.SUCCEEDED);
        assertThat(succeeded.outputs()).containsExactly(output("kept.png"));
        Job retriedAgain = reopened.find(retried.id()).orElseThrow();
        assertThat(retriedAgain.state()).isEqualTo(JobState.QUEUED);
        assertThat(retriedAgain.errors()).containsExactly("first try failed", "second try failed");
        assertThat(reopened.depth()).isEqualTo(2);
        Lease lease = claim(reopened, "after-restart");
        assertThat(lease.jobId()).isEqualTo(retried.id());
        assertThat(lease.attempt()).isEqualTo(3);
        assertThat(claim(reopened, "after-restart").jobId()).isEqualTo(queued.id());
    }

    @Test
    void aJobRunningWhenTheDaemonDiedRunsAgainUnderTheNextDaemon() throws Exception {
        Job job = store.enqueue(spec("interrupted", 0));
        store.claim("old-daemon-worker", SHORT_LEASE, Duration.ZERO).orElseThrow();
        store.close();

        JobStore next = open();
        Lease lease = next.claim("new-daemon-worker", LONG, Duration.ofSeconds(20)).orElseThrow();

        assertThat(lease.jobId()).isEqualTo(job.id());
        assertThat(lease.attempt()).isEqualTo(2);
        assertThat(next.succeed(lease, List.of(output("once.png")))).isTrue();
    }

    @Test
    void subscribersSeeStateChangesAndProgressOfTheirJobOnly() throws Exception {
        Job job = store.enqueue(spec("watched", 0));
        Job other = store.enqueue(spec("other", 0));
        List<JobEvent> events = new CopyOnWriteArrayList<>();
        AutoCloseable subscription = store.subscribe(job.id(), events::add);

        Lease lease = claim(store, "w1");
        assertThat(lease.jobId()).isEqualTo(job.id());
        JobEvent progress = new JobEvent(job.id(), java.time.Instant.now(), "progress", "{\"value\":5,\"max\":10}");
        store.progress(lease, 0.5, List.of(progress));
        assertThat(store.find(job.id()).orElseThrow().progress()).isEqualTo(0.5);
        store.succeed(lease, List.of());

        await().atMost(LONG).untilAsserted(() -> assertThat(events).extracting(JobEvent::type)
                .containsExactly("state", "progress", "state"));
        assertThat(events.get(0).json()).contains("\"running\"", "\"w1\"");
        assertThat(events.get(1)).isEqualTo(progress);
        assertThat(events.get(2).json()).contains("\"succeeded\"");

        subscription.close();
        List<JobEvent> unsubscribed = new CopyOnWriteArrayList<>();
        store.subscribe(other.id(), unsubscribed::add).close();
        store.enqueue(spec("after", 0));
        assertThat(store.cancel(other.id())).isPresent();
        assertThat(events).hasSize(3);
        assertThat(unsubscribed).isEmpty();
    }

    @Test
    void concurrentClaimersNeverGetTheSameJob() throws Exception {
        int jobs = 200;
        int workers = 8;
        Set<String> enqueued = new HashSet<>();
        for (int i = 0; i < jobs; i++) {
            enqueued.add(store.enqueue(spec("job" + i, i % 3)).id());
        }
        List<String> claimed = Collections.synchronizedList(new ArrayList<>());
        Set<String> refused = ConcurrentHashMap.newKeySet();
        List<JobStore> stores = claimingStores();
        ExecutorService pool = Executors.newFixedThreadPool(workers);
        try {
            List<Future<?>> running = new ArrayList<>();
            for (int w = 0; w < workers; w++) {
                String worker = "w" + w;
                JobStore from = stores.get(w % stores.size());
                running.add(pool.submit(() -> {
                    Optional<Lease> lease;
                    while ((lease = from.claim(worker, LONG, Duration.ofMillis(500))).isPresent()) {
                        claimed.add(lease.get().jobId());
                        if (!from.succeed(lease.get(), List.of())) {
                            refused.add(lease.get().jobId());
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> future : running) {
                future.get(120, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }

        assertThat(claimed).hasSize(jobs).doesNotHaveDuplicates();
        assertThat(new HashSet<>(claimed)).isEqualTo(enqueued);
        assertThat(refused).isEmpty();
        assertThat(store.list(Optional.of(JobState.SUCCEEDED), jobs + 1)).hasSize(jobs);
    }

    @Test
    void closingEndsAWaitingClaimAndIsIdempotent() throws Exception {
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Future<Optional<Lease>> waiting = pool.submit(() -> store.claim("w1", LONG, Duration.ofMinutes(5)));
            // The claim must be waiting when the store closes: give it time to get there.
            await().pollDelay(Duration.ofMillis(300)).atMost(LONG).until(() -> true);

            store.close();
            store.close();

            assertThatThrownBy(() -> waiting.get(20, TimeUnit.SECONDS))
                    .hasCauseInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
            assertThatThrownBy(() -> store.enqueue(spec("late", 0))).isInstanceOf(IllegalStateException.class);
        } finally {
            pool.shutdownNow();
        }
    }
}
