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
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * Feeds the queue to this daemon's ComfyUI instances. One thread claims: each claim is for the least-loaded
 * instance that accepts work (READY, not draining, a free slot), under that instance's own worker name, so an
 * instance never holds more than its slots and a restart drains quickly. Each claimed job runs on a thread of its
 * own ({@link JobRun}); a renewer extends every running job's lease a few times per visibility timeout and cancels
 * the runs whose renewal is refused (cancelled, or the lease was lost). A queued job while every instance sleeps
 * wakes one. Closing gives the running jobs back to the queue untouched.
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
                Optional<JobTarget> target = targets.stream().filter(JobTarget::acceptsWork)
                        .min(Comparator.comparingInt(JobTarget::inFlight));
                if (target.isEmpty()) {
                    synchronized (slotFreed) {
                        slotFreed.wait(CLAIM_WAIT.toMillis());
                    }
                    continue;
                }
                Optional<Lease> lease = store.claim(target.get().worker(), visibility, CLAIM_WAIT);
                if (lease.isPresent() && !target.get().acceptsWork()) {
                    // It began draining or went down while the claim waited: the job goes back, not counted as an attempt.
                    store.release(lease.get());
                } else if (lease.isPresent()) {
                    launch(target.get(), lease.get());
                }
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                log.warn("jobs: claiming failed, trying again in a second: {}", e.toString());
                sleepQuietly(Duration.ofSeconds(1));
            }
        }
    }

    private void launch(JobTarget target, Lease lease) {
        if (closed.get()) {
            store.release(lease);
            return;
        }
        JobRun run = new JobRun(lease, target, store, outputs, http, target.client().requestTimeout());
        target.started();
        running.put(lease.jobId(), run);
        runs.execute(() -> {
            try {
                run.run();
            } finally {
                running.remove(lease.jobId(), run);
                target.finished();
                synchronized (slotFreed) {
                    slotFreed.notifyAll();
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
        });
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
