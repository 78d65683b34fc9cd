package dev.comfyctl.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.comfyctl.config.Config;
import dev.comfyctl.events.Events;
import dev.comfyctl.supervisor.InstanceState;

import java.net.http.HttpClient;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The durable job queue of one daemon: the store, submit-time validation, the dispatcher feeding this daemon's
 * instances, where outputs go and the per-job webhooks. Closing gives running jobs back and closes the store.
 */
public final class JobService implements AutoCloseable {
    private final JobStore store;
    private final WorkflowValidator validator;
    private final JobOutputs outputs;
    private final Dispatcher dispatcher;
    private final ExecutorService background = Executors.newSingleThreadExecutor(runnable -> {
        Thread thread = new Thread(runnable, "jobs-background");
        thread.setDaemon(true);
        return thread;
    });

    private JobService(JobStore store, WorkflowValidator validator, JobOutputs outputs, Dispatcher dispatcher) {
        this.store = store;
        this.validator = validator;
        this.outputs = outputs;
        this.dispatcher = dispatcher;
    }

    /** Starts dispatching {@code store}'s jobs to {@code targets}; the service owns the store from now on. */
    public static JobService start(Config config, JobStore store, List<JobTarget> targets, Events events) {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
        WorkflowValidator validator = new WorkflowValidator(config.home().resolve("object_info.json"), () -> targets.stream()
                .filter(target -> target.instance().state() == InstanceState.READY).findFirst()
                .map(target -> new ComfyFiles(http, target.client().baseUri(), target.client().requestTimeout())));
        JobOutputs outputs = new JobOutputs(config.jobsOutputDir());
        JobWebhook webhook = new JobWebhook();
        Dispatcher dispatcher = new Dispatcher(store, targets, outputs, config.jobVisibility(), events,
                jobId -> store.find(jobId).filter(job -> job.state().finished()).ifPresent(webhook::finished));
        JobService service = new JobService(store, validator, outputs, dispatcher);
        for (JobTarget target : targets) {
            target.instance().addListener((name, from, to, reason) -> {
                if (to == InstanceState.READY) {
                    service.background.execute(validator::refresh);
                }
            });
        }
        dispatcher.start();
        return service;
    }

    public JobStore store() {
        return store;
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
        store.close();
    }
}
