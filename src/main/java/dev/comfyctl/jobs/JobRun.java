package dev.comfyctl.jobs;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.comfyctl.comfy.ComfyApiException;
import dev.comfyctl.comfy.PromptRejectedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.http.HttpClient;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * One attempt of one job on one ComfyUI: uploads its inputs, submits the prompt, relays ComfyUI's messages about it
 * from the instance's shared WebSocket as job events, then stores each output and succeeds the job.
 *
 * <p>How it ends: ComfyUI gone (crash, restart, lost connection) is a retryable failure; a node's execution error
 * or a prompt ComfyUI refuses is final, with ComfyUI's error; a cancel ({@link #cancel()}, when the lease renewal
 * says so) interrupts ComfyUI and takes the prompt out of its queue; {@link #abandon()} (shutdown) gives the job
 * back untouched.
 */
final class JobRun implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(JobRun.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration POLL = Duration.ofMillis(200);
    private static final int HISTORY_TRIES = 25;
    private static final Duration UNREACHABLE_PAUSE = Duration.ofSeconds(1);
    /** Progress messages come several a second per node; the store keeps one every this often, and every last step. */
    private static final Duration PROGRESS_EVERY = Duration.ofMillis(100);
    /** Most messages in one write to the store. */
    private static final int BATCH = 64;
    private static final Set<String> RELAYED = Set.of("execution_start", "execution_cached", "executing", "progress",
            "executed", "execution_success", "execution_error", "execution_interrupted");

    private final Lease lease;
    private final JobTarget target;
    private final JobStore store;
    private final JobOutputs outputs;
    private final HttpClient http;
    private final Duration timeout;
    private volatile boolean cancelled;
    private volatile boolean abandoned;
    private volatile String promptId;
    /** The prompt's last events and the progress they reached, kept to go with the outcome in one write. */
    private List<JobEvent> lastEvents = List.of();
    private double finalProgress;
    /** The outputs ComfyUI reported node by node ({@code executed}), and whether it took any node from its cache. */
    private final ObjectNode executedOutputs = JSON.createObjectNode();
    private boolean anyCached;

    JobRun(Lease lease, JobTarget target, JobStore store, JobOutputs outputs, HttpClient http, Duration timeout) {
        this.lease = lease;
        this.target = target;
        this.store = store;
        this.outputs = outputs;
        this.http = http;
        this.timeout = timeout;
    }

    Lease lease() {
        return lease;
    }

    JobTarget target() {
        return target;
    }

    /** The job was cancelled (or its lease lost): stop it in ComfyUI and drop it. */
    void cancel() {
        cancelled = true;
    }

    /** comfyctl is shutting down: give the job back untouched, to run again after the restart. */
    void abandon() {
        abandoned = true;
    }

    @Override
    public void run() {
        String jobId = lease.jobId();
        try {
            List<JobOutput> stored = execute();
            if (stored == null) {
                return;
            }
            if (store.succeed(lease, finalProgress, lastEvents, stored)) {
                log.info("job {} succeeded on {} (attempt {}, {} output(s))", jobId, target.name(), lease.attempt(), stored.size());
            } else {
                log.info("job {}: attempt {} finished after another attempt or a lost lease; its result is dropped", jobId, lease.attempt());
                outputs.deleteAttempt(jobId, lease.attempt());
            }
        } catch (FinalFailure e) {
            log.info("job {} failed on {}: {}", jobId, target.name(), e.getMessage());
            store.fail(lease, e.getMessage(), false);
        } catch (ComfyUnreachableException | ComfyApiException | IOException e) {
            if (promptId == null && !(e instanceof IOException)) {
                // ComfyUI never got the prompt (it is going down or restarting): not an attempt, and this
                // instance gets a moment before it is offered another job.
                log.info("job {}: {} is unreachable before the prompt was submitted, giving the job back: {}", jobId,
                        target.name(), e.getMessage());
                target.pause(UNREACHABLE_PAUSE);
                store.release(lease);
            } else if (!giveUpQuietly()) {
                log.info("job {} attempt {} failed on {}, retryable: {}", jobId, lease.attempt(), target.name(), e.getMessage());
                store.fail(lease, e.getMessage(), true);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            store.release(lease);
        } catch (RuntimeException e) {
            log.warn("job {} attempt {} failed unexpectedly on {}", jobId, lease.attempt(), target.name(), e);
            store.fail(lease, "comfyctl failed running it: " + e, true);
        }
    }

    /** The stored outputs, or null when the run ended without a result to keep (cancelled, abandoned). */
    private List<JobOutput> execute() throws ComfyUnreachableException, IOException, FinalFailure, InterruptedException {
        JsonNode prompt = parse(lease.job().spec().prompt());
        ComfyFiles files = new ComfyFiles(http, target.client().baseUri(), timeout);
        for (JobInput input : lease.job().spec().inputs()) {
            try {
                files.upload(input);
            } catch (IOException e) {
                throw new FinalFailure(e.getMessage());
            }
        }
        PromptSocket socket = target.socket(http, timeout);
        try {
            promptId = target.client().submit(prompt, socket.clientId()).promptId();
        } catch (PromptRejectedException e) {
            throw new FinalFailure("ComfyUI refused the workflow: " + e.getMessage() + "; node_errors: " + e.nodeErrors());
        }
        try (PromptSocket.Prompt messages = socket.follow(promptId)) {
            if (!follow(messages, prompt.size())) {
                return null;
            }
        }
        try {
            return store(files, outputs());
        } catch (Exception e) {
            flushLast();
            throw e;
        }
    }

    /**
     * Relays the prompt's messages until it ends; false when it was cancelled or abandoned. Messages are handed to
     * the store in batches: everything ComfyUI has sent by the time the socket has nothing more to read (up to
     * {@link #BATCH} messages) is one write, so a burst of node messages costs one write rather than one each, and a
     * slow prompt's messages still go out as they come. The batch is written before the run ends either way.
     */
    private boolean follow(PromptSocket.Prompt socket, int nodes) throws ComfyUnreachableException, FinalFailure, InterruptedException {
        Set<String> done = new HashSet<>();
        List<JobEvent> batch = new ArrayList<>();
        double progress = 0;
        boolean succeeded = false;
        String running = null;
        Instant lastProgress = Instant.EPOCH;
        while (true) {
            if (abandoned) {
                store.release(lease);
                return false;
            }
            if (cancelled) {
                stopInComfy();
                // The refused renewal already ended the job CANCELLED (or another worker holds it): nothing to keep.
                store.release(lease);
                return false;
            }
            Optional<JsonNode> next = socket.next(batch.isEmpty() ? POLL : Duration.ZERO);
            if (next.isEmpty() || batch.size() >= BATCH) {
                record(progress, batch);
            }
            if (next.isEmpty()) {
                continue;
            }
            JsonNode message = next.get();
            String type = message.path("type").asText();
            JsonNode data = message.path("data");
            if (!RELAYED.contains(type) || !promptId.equals(data.path("prompt_id").asText())) {
                continue;
            }
            if (nothingToTell(type, data) && !succeeded) {
                continue;
            }
            // The running node's share of its steps, while it reports them.
            double stepsDone = 0;
            switch (type) {
                case "execution_cached" -> data.path("nodes").forEach(node -> {
                    done.add(node.asText());
                    anyCached = true;
                });
                case "executing" -> {
                    if (running != null) {
                        done.add(running);
                    }
                    running = data.path("node").isNull() ? null : data.path("node").asText();
                }
                case "progress" -> {
                    double max = Math.max(1, data.path("max").asDouble(1));
                    stepsDone = data.path("value").asDouble() / max;
                    boolean last = data.path("value").asDouble() >= max;
                    if (!last && Duration.between(lastProgress, Instant.now()).compareTo(PROGRESS_EVERY) < 0) {
                        continue;
                    }
                    lastProgress = Instant.now();
                }
                case "executed" -> {
                    if (data.path("output").isObject()) {
                        executedOutputs.set(data.path("node").asText(), data.path("output"));
                    }
                }
                default -> {
                }
            }
            // Counted after the switch, so that the node an "executing" message ends is done; and never backwards,
            // whatever order ComfyUI's messages come in.
            double now = Math.min(1.0, (done.size() + stepsDone) / Math.max(1, nodes));
            progress = type.equals("execution_success") || succeeded ? 1.0 : Math.max(progress, now);
            batch.add(new JobEvent(lease.jobId(), Instant.now(), type, data.toString()));
            switch (type) {
                case "execution_success" -> succeeded = true;
                case "executing" -> {
                    // ComfyUI stores the history entry after execution_success and before this "node: null".
                    if (succeeded && data.path("node").isNull()) {
                        lastEvents = List.copyOf(batch);
                        finalProgress = progress;
                        return true;
                    }
                }
                case "execution_error" -> {
                    record(progress, batch);
                    throw new FinalFailure("node " + data.path("node_id").asText() + " ("
                            + data.path("node_type").asText() + ") failed: " + data.path("exception_type").asText("error") + ": "
                            + data.path("exception_message").asText().strip());
                }
                case "execution_interrupted" -> {
                    if (!cancelled) {
                        record(progress, batch);
                        throw new ComfyUnreachableException("ComfyUI interrupted the prompt at node "
                                + data.path("node_id").asText() + " (someone pressed cancel in ComfyUI, or it is restarting)", null);
                    }
                }
                default -> {
                }
            }
        }
    }

    /**
     * The kept events on their own, before the failure is recorded: the prompt ended, but the attempt failed after it
     * (history, outputs).
     */
    private void flushLast() {
        record(finalProgress, new ArrayList<>(lastEvents));
        lastEvents = List.of();
    }

    /** Hands the batch to the store (one write) and empties it. */
    private void record(double progress, List<JobEvent> batch) {
        if (!batch.isEmpty()) {
            store.progress(lease, progress, List.copyOf(batch));
            batch.clear();
        }
    }

    /**
     * The prompt's outputs by node. When ComfyUI ran every node, they are what its {@code executed} messages said,
     * which is also what its history holds. A node taken from its cache sent no {@code executed} (ComfyUI before
     * 2024) or sent its earlier output again (since): its outputs are in the history only, so then the history
     * answers.
     */
    private JsonNode outputs() throws InterruptedException, ComfyUnreachableException {
        return anyCached ? history() : executedOutputs;
    }

    /** The outputs of the prompt's history entry; asked again briefly if ComfyUI has not written it yet. */
    private JsonNode history() throws InterruptedException, ComfyUnreachableException {
        for (int tries = 0; tries < HISTORY_TRIES; tries++) {
            JsonNode entry = target.client().history(promptId);
            if (entry.has("outputs")) {
                return entry.path("outputs");
            }
            Thread.sleep(POLL.toMillis());
        }
        throw new ComfyUnreachableException("ComfyUI finished prompt " + promptId + " but has no history entry for it", null);
    }

    /** Nothing cached, or ComfyUI between nodes: not worth a durable write per job. */
    private static boolean nothingToTell(String type, JsonNode data) {
        return type.equals("execution_cached") && data.path("nodes").isEmpty();
    }

    private void stopInComfy() {
        try {
            new ComfyFiles(http, target.client().baseUri(), timeout).deleteQueued(promptId);
            if (target.client().queue().running().contains(promptId)) {
                target.client().interrupt();
            }
        } catch (ComfyUnreachableException | ComfyApiException e) {
            log.info("job {}: could not stop prompt {} in ComfyUI ({}); it is gone with ComfyUI", lease.jobId(), promptId, e.getMessage());
        }
    }

    private List<JobOutput> store(ComfyFiles files, JsonNode outputsByNode) throws ComfyUnreachableException, IOException {
        List<JobOutput> stored = new ArrayList<>();
        Iterator<Map.Entry<String, JsonNode>> nodes = outputsByNode.fields();
        while (nodes.hasNext()) {
            Map.Entry<String, JsonNode> node = nodes.next();
            for (JsonNode list : node.getValue()) {
                for (JsonNode file : list) {
                    if (!file.path("filename").isTextual()) {
                        continue;
                    }
                    String filename = file.path("filename").asText();
                    String subfolder = file.path("subfolder").asText("");
                    String type = file.path("type").asText("output");
                    Path relative = outputs.attemptPath(lease.jobId(), lease.attempt(), subfolder, filename);
                    ComfyFiles.Stored copy = files.download(filename, subfolder, type, outputs.resolve(relative));
                    stored.add(new JobOutput(node.getKey(), filename, subfolder, type, relative.toString(), copy.size(), copy.sha256()));
                }
            }
        }
        return stored;
    }

    private boolean giveUpQuietly() {
        if (abandoned) {
            store.release(lease);
            return true;
        }
        return false;
    }

    private static JsonNode parse(String prompt) throws FinalFailure {
        try {
            return JSON.readTree(prompt);
        } catch (JsonProcessingException e) {
            throw new FinalFailure("the stored workflow is not JSON: " + e.getOriginalMessage());
        }
    }

    /** A failure that running the job again would not fix. */
    private static final class FinalFailure extends Exception {
        FinalFailure(String message) {
            super(message);
        }
    }
}
