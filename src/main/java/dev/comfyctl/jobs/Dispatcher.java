package dev.comfyctl.jobs;

import dev.comfyctl.comfy.ComfyClient;
import dev.comfyctl.events.EventType;
import dev.comfyctl.events.Events;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.http.HttpClient;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * Feeds the queue to this daemon's ComfyUI instances. Each claim is for the least-loaded instance that accepts work
 * (READY, not draining, a free slot), under that instance's own worker name, so an instance never holds more than
 * its slots and a restart drains quickly. Each claimed job runs on a thread of its own ({@link JobRun}), which, when
 * the job ends, claims the next one for the slot it freed and runs it in turn; the claimer thread fills the slots
 * nobody claims for (jobs arriving into an idle queue). A renewer extends every running job's lease a few times per
 * visibility timeout and cancels the runs whose renewal is refused (cancelled, or the lease was lost). A queued job
 * while every instance sleeps wakes one. Closing gives the running jobs back to the queue untouched.
 */
final class Dispatcher implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Dispatcher.class);
    private static final Duration CLAIM_WAIT = Duration.ofMillis(500);
    private static final Duration WAKE_CHECK = Duration.ofSeconds(1);
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(5);

    private final JobStore store;
    private final List<JobTarget> targets;
    private final JobOutputs outputs;
    private final Duration visibility;
    private final Events events;
    private final Consumer<String> onFinished;
    private final HttpClient http = ComfyClient.sharedHttp();
    private final Map<String, JobRun> running = new ConcurrentHashMap<>();
    private final Object slotFreed = new Object();
    private final ExecutorService runs = Executors.newCachedThreadPool(daemonThreads("job-run"));
    private final ScheduledExecutorService renewer = Executors.newSingleThreadScheduledExecutor(daemonThreads("job-renew"));
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Thread claimer;
    private long lastWakeCheck;

    /** @param onFinished told the id of each job with a webhook an attempt of which ended here */
    Dispatcher(JobStore store, List<JobTarget> targets, JobOutputs outputs, Duration visibility, Events events,
               Consumer<String> onFinished) {
        this.store = store;
        this.targets = List.copyOf(targets);
        this.outputs = outputs;
        this.visibility = visibility;
        this.events = events;
        this.onFinished = onFinished;
        this.claimer = daemonThreads("job-dispatch").newThread(this::claimLoop);
    }

    Dispatcher start() {
        long every = Math.max(100, visibility.toMillis() / 3);
        renewer.scheduleWithFixedDelay(this::renewAll, every, every, TimeUnit.MILLISECONDS);
        claimer.start();
        log.info("jobs: dispatching to {} (visibility {} s)", targets.stream().map(t -> t.name() + " as " + t.worker()).toList(),
                visibility.toSeconds());
        return this;
    }

    /** Jobs running here now. */
    int running() {
        return running.size();
    }

    private void claimLoop() {
        while (!closed.get()) {
            try {
                wakeIfWorkWaits();
                Optional<JobTarget> target = leastLoaded();
                if (target.isEmpty()) {
                    synchronized (slotFreed) {
                        slotFreed.wait(CLAIM_WAIT.toMillis());
                    }
                    continue;
                }
                Optional<Lease> lease = store.claim(target.get().worker(), visibility, CLAIM_WAIT);
                if (lease.isPresent() && !holdSlot(target.get())) {
                    // It began draining or went down while the claim waited, or a run took its last slot meanwhile: the
                    // job goes back, not counted as an attempt.
                    store.release(lease.get());
                } else if (lease.isPresent()) {
                    start(target.get(), lease.get());
                }
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                log.warn("jobs: claiming failed, trying again in a second: {}", e.toString());
                sleepQuietly(Duration.ofSeconds(1));
            }
        }
    }

    /** Takes a slot of {@code target} if it still accepts work; with {@link #nextSlot} the only place slots are taken. */
    private synchronized boolean holdSlot(JobTarget target) {
        if (!target.acceptsWork()) {
            return false;
        }
        target.started();
        return true;
    }

    /**
     * Gives back the slot of a run that ended and takes one on the least-loaded instance that accepts work, in one
     * step: the claimer never sees the slot free in between, to claim a job for it that it would have to give back.
     */
    private synchronized Optional<JobTarget> nextSlot(JobTarget done) {
        done.finished();
        if (closed.get()) {
            return Optional.empty();
        }
        Optional<JobTarget> next = leastLoaded();
        next.ifPresent(JobTarget::started);
        return next;
    }

    /** The instance with the fewest jobs of those that accept work, if any does. */
    private Optional<JobTarget> leastLoaded() {
        return targets.stream().filter(JobTarget::acceptsWork).min(Comparator.comparingInt(JobTarget::inFlight));
    }

    private void start(JobTarget target, Lease lease) {
        try {
            runs.execute(() -> runFrom(target, lease));
        } catch (RejectedExecutionException e) {
            // Closing: the job goes back untouched.
            target.finished();
            store.release(lease);
        }
    }

    /**
     * Runs the job, then the next queued one in the same thread while there is one and an instance has a free slot:
     * at a thousand jobs a second, handing every freed slot to the claimer thread made its one claim at a time the
     * limit, and cost each job two more thread wake-ups. Holds {@code target}'s slot for the job; the claimer is told
     * when a slot is left free.
     */
    private void runFrom(JobTarget target, Lease lease) {
        while (true) {
            try {
                runOne(target, lease);
            } catch (RuntimeException e) {
                log.warn("jobs: job {} on {} ended with an unexpected failure: {}", lease.jobId(), target.name(), e.toString());
            }
            Optional<JobTarget> next = nextSlot(target);
            Optional<Lease> claimed = next.isEmpty() ? Optional.empty() : claimNow(next.get());
            if (claimed.isEmpty()) {
                next.ifPresent(JobTarget::finished);
                synchronized (slotFreed) {
                    slotFreed.notifyAll();
                }
                return;
            }
            target = next.get();
            lease = claimed.get();
        }
    }

    /** A job queued now for {@code target}, without waiting for one; none when the store fails or we shut down. */
    private Optional<Lease> claimNow(JobTarget target) {
        try {
            return store.claim(target.worker(), visibility, Duration.ZERO);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        } catch (RuntimeException e) {
            log.warn("jobs: claiming the next job for {} failed, leaving it to the claimer: {}", target.name(), e.toString());
            return Optional.empty();
        }
    }

    private void runOne(JobTarget target, Lease lease) {
        JobRun run = new JobRun(lease, target, store, outputs, http, target.client().requestTimeout());
        running.put(lease.jobId(), run);
        // close() sets closed before it abandons what runs: a run it did not see sees closed here, and goes back.
        if (closed.get()) {
            running.remove(lease.jobId(), run);
            store.release(lease);
            return;
        }
        try {
            run.run();
        } finally {
            running.remove(lease.jobId(), run);
        }
        // Only a job with a webhook needs reading again once its attempt ended.
        if (lease.job().spec().webhook().isPresent()) {
            try {
                onFinished.accept(lease.jobId());
            } catch (RuntimeException e) {
                log.warn("jobs: after job {}: {}", lease.jobId(), e.toString());
            }
        }
    }

    private void renewAll() {
        try {
            for (JobRun run : running.values()) {
                run.target().busy();
                if (!store.renew(run.lease(), visibility)) {
                    log.info("job {}: cancelled, or its lease was lost: stopping it on {}", run.lease().jobId(), run.target().name());
                    run.cancel();
                }
            }
        } catch (RuntimeException e) {
            log.error("Unexpected exception renewing job leases", e);
        }
    }

    /** Every second at most: with jobs queued and no instance up or starting, start one that sleeps. */
    private void wakeIfWorkWaits() {
        long now = System.nanoTime();
        if (now - lastWakeCheck < WAKE_CHECK.toNanos()) {
            return;
        }
        lastWakeCheck = now;
        if (targets.stream().anyMatch(JobTarget::awake)) {
            return;
        }
        Optional<JobTarget> sleeper = targets.stream().filter(JobTarget::asleep).findFirst();
        if (sleeper.isPresent() && store.depth() > 0) {
            JobTarget target = sleeper.get();
            events.post(EventType.WAKE, target.name(), "woken by a queued job", Map.of("request", "job queue"));
            target.busy();
            target.instance().start(event -> { });
        }
    }

    @Override
    public void close() {
        if (closed.getAndSet(true)) {
            return;
        }
        claimer.interrupt();
        renewer.shutdownNow();
        running.values().forEach(JobRun::abandon);
        runs.shutdown();
        targets.forEach(JobTarget::closeSocket);
        try {
            claimer.join(CLOSE_WAIT.toMillis());
            if (!runs.awaitTermination(CLOSE_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
                log.warn("Timed-out waiting for {} job(s) to give their leases back; they run again after the visibility timeout",
                        running.size());
                runs.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void sleepQuietly(Duration duration) {
        try {
            Thread.sleep(duration.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Daemon threads named {@code name}, for the job queue's executors. */
    static java.util.concurrent.ThreadFactory daemonThreads(String name) {
        return runnable -> {
            Thread thread = new Thread(runnable, name);
            thread.setDaemon(true);
            return thread;
        };
    }
}
