package dev.comfyctl.jobs;

import dev.comfyctl.comfy.ComfyClient;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.comfyctl.config.Config;
import dev.comfyctl.events.Events;
import dev.comfyctl.supervisor.InstanceState;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.http.HttpClient;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.concurrent.Executors;

/**
 * The durable job queue of one daemon: the store, submit-time validation, the dispatcher feeding this daemon's
 * instances, where outputs go and the per-job webhooks. Closing gives running jobs back and closes the store.
 */
public final class JobService implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(JobService.class);
    /** How often finished jobs past their retention are removed, and at most how many per store call. */
    private static final Duration PRUNE_EVERY = Duration.ofMinutes(10);
    private static final int PRUNE_BATCH = 1_000;

    private final JobBackend backend;
    private final JobStore store;
    private final WorkflowValidator validator;
    private final JobOutputs outputs;
    private final Dispatcher dispatcher;
    private final ScheduledExecutorService background =
            Executors.newSingleThreadScheduledExecutor(Dispatcher.daemonThreads("jobs-background"));
    /** A thread of its own, so that removing a large backlog of finished jobs does not hold up the fleet heartbeat. */
    private final ScheduledExecutorService pruner = Executors.newSingleThreadScheduledExecutor(Dispatcher.daemonThreads("jobs-prune"));

    private JobService(JobBackend backend, WorkflowValidator validator, JobOutputs outputs, Dispatcher dispatcher) {
        this.backend = backend;
        this.store = backend.store();
        this.validator = validator;
        this.outputs = outputs;
        this.dispatcher = dispatcher;
    }

    /**
     * Starts dispatching the backend's jobs to {@code targets} and sending this machine's fleet heartbeat; the
     * service owns the backend from now on.
     *
     * @param gpus this machine's GPU names, for the heartbeat
     */
    public static JobService start(Config config, JobBackend backend, List<JobTarget> targets, Events events,
                                   Supplier<List<String>> gpus) {
        JobStore store = backend.store();
        HttpClient http = ComfyClient.sharedHttp();
        WorkflowValidator validator = new WorkflowValidator(config.home().resolve("object_info.json"), () -> targets.stream()
                .filter(target -> target.instance().state() == InstanceState.READY).findFirst()
                .map(target -> new ComfyFiles(http, target.client().baseUri(), target.client().requestTimeout())));
        JobOutputs outputs = new JobOutputs(config.jobsOutputDir());
        JobWebhook webhook = new JobWebhook();
        Dispatcher dispatcher = new Dispatcher(store, targets, outputs, config.jobVisibility(), events,
                jobId -> store.find(jobId).filter(job -> job.state().finished()).ifPresent(webhook::finished));
        JobService service = new JobService(backend, validator, outputs, dispatcher);
        for (JobTarget target : targets) {
            target.instance().addListener((name, from, to, reason) -> {
                if (to == InstanceState.READY) {
                    service.background.execute(validator::refresh);
                }
            });
        }
        dispatcher.start();
        String machine = machineId(config);
        long every = JobBackend.FLEET_TIME_TO_LIVE.toMillis() / 3;
        service.background.scheduleWithFixedDelay(() -> service.heartbeat(machine, targets.size(), gpus), 0, every, TimeUnit.MILLISECONDS);
        config.jobRetention().ifPresent(retention -> service.pruner.scheduleWithFixedDelay(
                () -> service.prune(Instant.now().minus(retention)), 0, PRUNE_EVERY.toMillis(), TimeUnit.MILLISECONDS));
        return service;
    }

    /** The host name and the daemon's port: stable across restarts, distinct for two daemons on one host. */
    private static String machineId(Config config) {
        try {
            return InetAddress.getLocalHost().getHostName() + ":" + config.managerPort();
        } catch (IOException e) {
            return "localhost:" + config.managerPort();
        }
    }

    private void heartbeat(String machine, int instances, Supplier<List<String>> gpus) {
        try {
            backend.fleet().heartbeat(new MachineInfo(machine, gpus.get(), instances, store.depth(), Instant.now()));
        } catch (RuntimeException e) {
            log.warn("jobs: the fleet heartbeat failed: {}", e.toString());
        }
    }

    /**
     * Removes the jobs that finished before {@code cutoff}, with their stored outputs, and answers how many. Every
     * daemon of a fleet does it: the store hands each finished job to one of them.
     */
    int prune(Instant cutoff) {
        int removed = 0;
        try {
            List<String> ids;
            do {
                ids = store.prune(cutoff, PRUNE_BATCH);
                for (String id : ids) {
                    try {
                        outputs.deleteJob(id);
                    } catch (UncheckedIOException e) {
                        log.warn("jobs: job {} was removed, but not all of its outputs: {}", id, e.getMessage());
                    }
                }
                removed += ids.size();
            } while (ids.size() == PRUNE_BATCH);
        } catch (RuntimeException e) {
            log.warn("jobs: removing the jobs that finished before {} failed: {}", cutoff, e.toString());
        }
        if (removed > 0) {
            log.info("jobs: removed {} job(s) that finished before {}, with their outputs (JOB_RETENTION_HOURS)", removed, cutoff);
        }
        return removed;
    }

    public JobStore store() {
        return store;
    }

    /** The machines of the fleet working this queue (just this one when it is embedded). */
    public List<MachineInfo> machines() {
        return backend.fleet().machines();
    }

    public JobOutputs outputs() {
        return outputs;
    }

    /** ComfyUI's error body for an invalid workflow, empty when it may be queued. Blocking (may ask ComfyUI). */
    public Optional<ObjectNode> validate(JsonNode prompt) {
        return validator.check(prompt);
    }

    /** Jobs running on this daemon's instances now. */
    public int running() {
        return dispatcher.running();
    }

    @Override
    public void close() {
        dispatcher.close();
        background.shutdownNow();
        pruner.shutdownNow();
        backend.close();
    }
}
