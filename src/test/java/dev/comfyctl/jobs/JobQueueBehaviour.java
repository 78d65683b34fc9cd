package dev.comfyctl.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.Daemon;
import dev.comfyctl.daemon.DaemonInfo;
import dev.comfyctl.daemon.JobClient;
import dev.comfyctl.supervisor.InstanceState;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Http;
import dev.comfyctl.testing.Ports;
import dev.comfyctl.testing.TestConfigs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The durable job queue as a user sees it, against a real daemon and the fake ComfyUI: one suite, run once per
 * backend by the subclasses.
 */
abstract class JobQueueBehaviour {
    static final Duration LONG = Duration.ofSeconds(60);

    @TempDir
    Path temp;

    FakeComfyUi fake;
    Daemon daemon;
    JobApi api;
    private final List<AutoCloseable> cleanup = new ArrayList<>();

    /** KEY, VALUE pairs that choose the backend (QUEUE_URL ...). */
    abstract List<String> backend();

    @AfterEach
    void stopEverything() throws Exception {
        if (daemon != null) {
            daemon.close();
        }
        for (int i = cleanup.size() - 1; i >= 0; i--) {
            cleanup.get(i).close();
        }
    }

    void closeAfter(AutoCloseable closeable) {
        cleanup.add(closeable);
    }

    /** A daemon in this JVM on its own fake ComfyUI; ComfyUI started unless {@code started} is false. */
    Daemon startDaemon(Map<String, Object> fakeBehaviour, boolean started, String... settings) {
        fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        fake.behave(fakeBehaviour);
        daemon = Daemon.start(config(fake, temp.resolve("state"), settings), false);
        api = new JobApi(URI.create(daemon.info().baseUrl()));
        if (started) {
            daemon.instance().start(event -> { }).join();
        }
        return daemon;
    }

    Config config(FakeComfyUi install, Path home, String... settings) {
        List<String> all = new ArrayList<>(backend());
        all.addAll(List.of("JOB_VISIBILITY_SECONDS", "2", "IDLE_TIMEOUT_SECONDS", "0", "HEALTH_CHECK_INTERVAL_SECONDS", "0"));
        all.addAll(List.of(settings));
        return TestConfigs.forFake(install, home, all.toArray(String[]::new));
    }

    @Test
    void aSubmittedJobRunsAndKeepsItsOutputsWithSizeAndSha256() throws Exception {
        startDaemon(Map.of("prompt_seconds", 0.2), true);

        JobApi.Answer submitted = api.post("{\"prompt\": " + JobApi.workflow(0xFF0000, "red") + "}");

        assertThat(submitted.status()).isEqualTo(202);
        assertThat(submitted.body().path("state").asText()).isEqualTo("queued");
        String id = submitted.body().path("id").asText();
        JsonNode job = api.awaitState(id, "succeeded", LONG);
        assertThat(job.path("progress").asDouble()).isEqualTo(1.0);
        assertThat(job.path("attempts").asInt()).isEqualTo(1);
        assertThat(job.path("outputs")).hasSize(1);
        JsonNode output = job.path("outputs").get(0);
        assertThat(output.path("filename").asText()).startsWith("red_").endsWith(".png");
        byte[] served = api.bytes("/jobs/" + id + "/outputs/" + output.path("filename").asText());
        byte[] comfyFile = Files.readAllBytes(fake.dir().resolve("output").resolve(output.path("filename").asText()));
        assertThat(served).isEqualTo(comfyFile);
        assertThat(output.path("size").asLong()).isEqualTo(comfyFile.length);
        assertThat(output.path("sha256").asText()).isEqualTo(sha256(comfyFile));
        assertThat(api.get("/jobs?state=succeeded").body().path("jobs").findValuesAsText("id")).contains(id);
    }

    @Test
    void aJobWhoseNodesComfyUiTookFromItsCacheKeepsTheOutputsItsHistoryHolds() throws Exception {
        // Nodes taken from ComfyUI's cache send no "executed" message: their outputs are only in the history.
        startDaemon(Map.of("prompt_seconds", 0.2, "cache_nodes", true), true);
        String body = "{\"prompt\": " + JobApi.workflow(0x00FF00, "green") + "}";

        JsonNode first = api.awaitState(api.post(body).body().path("id").asText(), "succeeded", LONG);
        JsonNode again = api.awaitState(api.post(body).body().path("id").asText(), "succeeded", LONG);

        assertThat(first.path("outputs")).hasSize(1);
        assertThat(again.path("outputs")).hasSize(1);
        JsonNode output = again.path("outputs").get(0);
        assertThat(output.path("filename").asText()).isEqualTo(first.path("outputs").get(0).path("filename").asText());
        byte[] comfyFile = Files.readAllBytes(fake.dir().resolve("output").resolve(output.path("filename").asText()));
        assertThat(api.bytes("/jobs/" + again.path("id").asText() + "/outputs/" + output.path("filename").asText())).isEqualTo(comfyFile);
        assertThat(output.path("sha256").asText()).isEqualTo(sha256(comfyFile));
    }

    @Test
    void eventsStreamProgressAndComfyUiNodeEventsUntilTheJobEnds() throws Exception {
        startDaemon(Map.of("prompt_seconds", 4), true);
        String id = api.submit(JobApi.workflow(0, "events"));
        List<String> names = new CopyOnWriteArrayList<>();
        List<JsonNode> snapshots = new CopyOnWriteArrayList<>();

        new JobClient(DaemonInfo.read(temp.resolve("state")).orElseThrow(), Optional.empty()).follow(id, (name, data) -> {
            names.add(name);
            if (name.equals("job")) {
                snapshots.add(data);
            }
        });

        // What happened before the client connected is in the first "job" snapshot, not replayed.
        assertThat(names.get(0)).isEqualTo("job");
        assertThat(names).contains("executing", "progress", "executed", "execution_success", "state");
        assertThat(names.indexOf("progress")).isLessThan(names.indexOf("execution_success"));
        assertThat(snapshots.get(snapshots.size() - 1).path("state").asText()).isEqualTo("succeeded");
        List<Double> progress = snapshots.stream().map(s -> s.path("progress").asDouble()).toList();
        assertThat(progress).isSorted();
        assertThat(progress).anyMatch(p -> p > 0 && p < 1);
    }

    @Test
    void anInvalidWorkflowIsRefusedAtSubmitWithComfyUiStyleNodeErrors() {
        startDaemon(Map.of(), true);

        JobApi.Answer badLink = api.post("{\"prompt\": {\"2\": {\"class_type\": \"SaveImage\", "
                + "\"inputs\": {\"images\": [\"9\", 0], \"filename_prefix\": \"x\"}}}}");
        JobApi.Answer unknownNode = api.post("{\"prompt\": {\"1\": {\"class_type\": \"NoSuchNode\", \"inputs\": {}}}}");
        JobApi.Answer notJson = api.post("{\"prompt\": ");
        JobApi.Answer noPrompt = api.post("{\"workflow\": {}}");

        assertThat(badLink.status()).isEqualTo(400);
        assertThat(badLink.body().path("error").path("type").asText()).isEqualTo("prompt_outputs_failed_validation");
        assertThat(badLink.body().path("node_errors").path("2").path("errors").get(0).path("message").asText())
                .isEqualTo("Linked node does not exist");
        assertThat(unknownNode.status()).isEqualTo(400);
        assertThat(unknownNode.body().path("error").path("message").asText()).contains("NoSuchNode does not exist");
        assertThat(notJson.status()).isEqualTo(400);
        assertThat(notJson.body().path("error").asText()).contains("not JSON");
        assertThat(noPrompt.status()).isEqualTo(400);
        assertThat(noPrompt.body().path("error").asText()).contains("\"prompt\"");
        assertThat(api.get("/jobs").body().path("jobs")).isEmpty();
    }

    @Test
    void cancelRemovesAQueuedJobAndInterruptsARunningOneInComfyUi() {
        startDaemon(Map.of("prompt_seconds", 30), true, "JOBS_PER_INSTANCE", "1");
        String running = api.submit(JobApi.workflow(0, "long"));
        String queued = api.submit(JobApi.workflow(0, "waiting"));
        api.awaitState(running, "running", LONG);
        await().atMost(LONG).until(() -> comfyQueue().path("queue_running").size() == 1);

        JobApi.Answer cancelledQueued = api.delete(queued);
        JobApi.Answer cancelledRunning = api.delete(running);

        assertThat(cancelledQueued.status()).isEqualTo(200);
        assertThat(cancelledQueued.body().path("state").asText()).isEqualTo("cancelled");
        assertThat(cancelledRunning.body().path("cancelRequested").asBoolean()).isTrue();
        api.awaitState(running, "cancelled", LONG);
        await().atMost(LONG).until(() -> comfyQueue().path("queue_running").isEmpty() && comfyQueue().path("queue_pending").isEmpty());
        assertThat(Http.get(comfy("/history")).body()).contains("execution_interrupted");
        assertThat(api.job(queued).path("attempts").asInt()).isZero();
        assertThat(api.delete("no-such-job").status()).isEqualTo(404);
    }

    @Test
    void aNodeExecutionErrorFailsTheJobAtOnceWithComfyUisErrorAndDeadLettersIt() {
        startDaemon(Map.of(), true);
        String id = api.submit(JobApi.workflow(0, "../../outside"));

        JsonNode job = api.awaitState(id, "failed", LONG);

        assertThat(job.path("attempts").asInt()).isEqualTo(1);
        assertThat(job.path("error").asText()).contains("SaveImage", "outside the output folder");
        assertThat(api.get("/jobs?state=failed").body().path("jobs").findValuesAsText("id")).containsExactly(id);
    }

    @Test
    void aComfyUiCrashMidJobIsRetriedAndTheJobCompletesOnce() {
        startDaemon(Map.of("prompt_seconds", 3), true);
        String id = api.submit(JobApi.workflow(0, "crash"));
        api.awaitState(id, "running", LONG);
        await().atMost(LONG).until(() -> comfyQueue().path("queue_running").size() == 1);

        Http.send(HttpRequest.newBuilder(comfy("/fake/crash")).POST(HttpRequest.BodyPublishers.noBody()));

        JsonNode job = api.awaitState(id, "succeeded", LONG);
        assertThat(job.path("attempts").asInt()).isEqualTo(2);
        assertThat(job.path("errors").get(0).asText()).contains("WebSocket");
        assertThat(job.path("outputs")).hasSize(1);
        assertThat(outputFiles(id)).hasSize(1);
    }

    @Test
    void aJobThatCrashesComfyUiEveryTimeIsDeadLetteredWithEveryAttemptsError() {
        startDaemon(Map.of("prompt_seconds", 30), true, "JOB_MAX_ATTEMPTS", "2");
        String id = api.submit(JobApi.workflow(0, "doomed"));

        for (int attempt = 1; attempt <= 2; attempt++) {
            int expected = attempt;
            await().atMost(LONG).until(() -> api.job(id).path("attempts").asInt() == expected
                    && daemon.instance().state() == InstanceState.READY && comfyQueue().path("queue_running").size() == 1);
            Http.send(HttpRequest.newBuilder(comfy("/fake/crash")).POST(HttpRequest.BodyPublishers.noBody()));
        }

        JsonNode job = api.awaitState(id, "failed", LONG);
        assertThat(job.path("errors")).hasSize(2);
        assertThat(job.path("attempts").asInt()).isEqualTo(2);
    }

    @Test
    void aJobArrivingWhileComfyUiSleepsWakesIt() {
        startDaemon(Map.of(), false);
        assertThat(daemon.instance().state()).isEqualTo(InstanceState.STOPPED);

        String id = api.submit(JobApi.workflow(0, "wake"));

        api.awaitState(id, "succeeded", LONG);
        assertThat(daemon.instance().state()).isEqualTo(InstanceState.READY);
        assertThat(fake.starts()).hasSize(1);
    }

    @Test
    void anInstanceDrainingForARestartTakesNoNewJobUntilItIsBack() throws Exception {
        startDaemon(Map.of("prompt_seconds", 3), true);
        String first = api.submit(JobApi.workflow(0, "before"));
        api.awaitState(first, "running", LONG);
        CompletableFuture<?> restart = CompletableFuture.runAsync(() ->
                Http.send(HttpRequest.newBuilder(URI.create(daemon.info().baseUrl()
                        + "/manager/schedule/force-restart?waitForQueue=true")).timeout(LONG)
                        .POST(HttpRequest.BodyPublishers.noBody())));
        closeAfter(() -> restart.get(60, TimeUnit.SECONDS));
        await().atMost(LONG).until(() -> api.get("/manager/schedule").body().path("restarting").asBoolean());

        String second = api.submit(JobApi.workflow(0, "after"));

        JsonNode before = api.awaitState(first, "succeeded", LONG);
        JsonNode after = api.awaitState(second, "succeeded", LONG);
        assertThat(before.path("attempts").asInt()).isEqualTo(1);
        assertThat(after.path("attempts").asInt()).isEqualTo(1);
        assertThat(Instant.parse(after.path("startedAt").asText()))
                .isAfter(Instant.parse(before.path("finishedAt").asText()));
        assertThat(fake.starts()).hasSize(2);
    }

    @Test
    void aBackloggedInstanceGetsAtMostItsSlotsOfPromptsAtOnceAndRunsEveryJobOnce() {
        startDaemon(Map.of("prompt_seconds", 0.3), true, "JOBS_PER_INSTANCE", "2");
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            ids.add(api.submit(JobApi.workflow(i, "backlog" + i)));
        }

        int most = 0;
        Instant deadline = Instant.now().plus(LONG);
        while (!ids.stream().allMatch(id -> api.job(id).path("state").asText().equals("succeeded"))) {
            assertThat(Instant.now()).as("every job done within %s", LONG).isBefore(deadline);
            JsonNode queue = comfyQueue();
            most = Math.max(most, queue.path("queue_running").size() + queue.path("queue_pending").size());
            assertThat(ids).allSatisfy(id -> assertThat(api.job(id).path("state").asText()).isIn("queued", "running", "succeeded"));
        }

        assertThat(most).isEqualTo(2);
        assertThat(ids).allSatisfy(id -> assertThat(api.job(id).path("attempts").asInt()).isEqualTo(1));
    }

    @Test
    void theIdleStopperNeverStopsComfyUiWithAJobInFlight() {
        startDaemon(Map.of("prompt_seconds", 4), true, "IDLE_TIMEOUT_SECONDS", "1", "IDLE_CHECK_INTERVAL", "1");
        String id = api.submit(JobApi.workflow(0, "busy"));

        JsonNode job = api.awaitState(id, "succeeded", LONG);

        assertThat(job.path("attempts").asInt()).isEqualTo(1);
        assertThat(fake.starts()).hasSize(1);
    }

    @Test
    void aMultipartSubmitUploadsItsInputFilesAndTheWebhookGetsTheFinishedJob() throws Exception {
        startDaemon(Map.of(), true);
        List<JsonNode> calls = new CopyOnWriteArrayList<>();
        com.sun.net.httpserver.HttpServer receiver = com.sun.net.httpserver.HttpServer.create(
                new InetSocketAddress("127.0.0.1", 0), 0);
        receiver.createContext("/done", exchange -> {
            calls.add(JobApi.JSON.readTree(exchange.getRequestBody().readAllBytes()));
            exchange.sendResponseHeaders(204, -1);
            exchange.close();
        });
        receiver.start();
        closeAfter(() -> receiver.stop(0));
        byte[] content = Files.readAllBytes(fake.dir().resolve("main.py"));
        String workflow = """
                {"1": {"class_type": "LoadImage", "inputs": {"image": "uploaded.png"}},
                 "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "loaded"}}}""";
        String boundary = "test-boundary";
        String body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"webhook\"\r\n\r\nhttp://127.0.0.1:"
                + receiver.getAddress().getPort() + "/done\r\n--" + boundary
                + "\r\nContent-Disposition: form-data; name=\"workflow\"; filename=\"workflow.json\"\r\n\r\n" + workflow
                + "\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"uploaded.png\"\r\n"
                + "Content-Type: image/png\r\n\r\n";
        java.io.ByteArrayOutputStream multipart = new java.io.ByteArrayOutputStream();
        multipart.write(body.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        multipart.write(content);
        multipart.write(("\r\n--" + boundary + "--\r\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));

        HttpResponse<String> response = Http.send(HttpRequest.newBuilder(
                        URI.create(daemon.info().baseUrl() + "/jobs"))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(multipart.toByteArray())));

        assertThat(response.statusCode()).as(response.body()).isEqualTo(202);
        String id = JobApi.JSON.readTree(response.body()).path("id").asText();
        JsonNode job = api.awaitState(id, "succeeded", LONG);
        assertThat(job.path("inputs").get(0).path("name").asText()).isEqualTo("uploaded.png");
        assertThat(Files.readAllBytes(fake.dir().resolve("input").resolve("uploaded.png"))).isEqualTo(content);
        await().atMost(LONG).until(() -> !calls.isEmpty());
        assertThat(calls.get(0).path("id").asText()).isEqualTo(id);
        assertThat(calls.get(0).path("state").asText()).isEqualTo("succeeded");
        assertThat(calls.get(0).path("outputs")).hasSize(1);
    }

    @Test
    void killingTheDaemonMidJobLosesNoJobAndCompletesNoneTwice() throws Exception {
        FakeComfyUi install = FakeComfyUi.install(temp.resolve("ComfyUI"));
        install.behave(Map.of("prompt_seconds", 2));
        Map<String, String> environment = processEnvironment(install, "JOBS_PER_INSTANCE", "2");
        Path home = temp.resolve("state");
        ServeProcess first = ServeProcess.start(environment, home, temp);
        closeAfter(first);
        JobApi firstApi = new JobApi(first.baseUri());
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            ids.add(firstApi.submit(JobApi.workflow(i, "survivor" + i)));
        }
        await().atMost(LONG).until(() -> firstApi.get("/jobs?state=running").body().path("jobs").size() == 2);

        first.kill9();
        ServeProcess second = ServeProcess.start(environment, home, temp);
        closeAfter(second);
        JobApi secondApi = new JobApi(second.baseUri());

        for (String id : ids) {
            JsonNode job = secondApi.awaitState(id, "succeeded", LONG);
            assertThat(job.path("outputs")).hasSize(1);
            assertThat(job.path("attempts").asInt()).isBetween(1, 2);
        }
        assertThat(secondApi.get("/jobs").body().path("jobs")).hasSize(3);
        assertThat(secondApi.get("/jobs?state=succeeded").body().path("jobs")).hasSize(3);
        for (String id : ids) {
            assertThat(outputFiles(id)).as("stored outputs of " + secondApi.job(id)).hasSize(1);
        }
    }

    /** The environment of a {@code comfyctl serve} process on {@code install}, with this backend. */
    Map<String, String> processEnvironment(FakeComfyUi install, String... settings) {
        Map<String, String> environment = new HashMap<>();
        List<String> pairs = new ArrayList<>(backend());
        pairs.addAll(List.of("COMFYUI_DIR", install.dir().toString(), "COMFYUI_PORT", Integer.toString(Ports.free()),
                "MANAGER_PORT", Integer.toString(Ports.free()), "HEALTH_PORT", Integer.toString(Ports.free()), "GPU_MODE", "mock", "COMFYUI_STOP_GRACE_SECONDS", "2",
                "COMFYUI_CRASH_BACKOFF_SECONDS", "0", "JOB_VISIBILITY_SECONDS", "2", "IDLE_TIMEOUT_SECONDS", "0",
                "HEALTH_CHECK_INTERVAL_SECONDS", "0"));
        pairs.addAll(List.of(settings));
        for (int i = 0; i < pairs.size(); i += 2) {
            environment.put(pairs.get(i), pairs.get(i + 1));
        }
        return environment;
    }

    JsonNode comfyQueue() {
        return JobApi.answerOf(Http.get(comfy("/queue")));
    }

    URI comfy(String path) {
        return daemon.instance() == null ? null : URI.create("http://127.0.0.1:" + daemon.instance().snapshot().port() + path);
    }

    /** The files stored for a job, every attempt. */
    List<Path> outputFiles(String id) {
        Path dir = temp.resolve("state").resolve("job-outputs").resolve(id);
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).toList();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static String sha256(byte[] bytes) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }
}
