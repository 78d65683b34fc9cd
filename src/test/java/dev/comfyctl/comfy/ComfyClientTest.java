package dev.comfyctl.comfy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.FakeProcess;
import dev.comfyctl.testing.Http;
import dev.comfyctl.testing.Ports;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ComfyClientTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration LONG = Duration.ofSeconds(20);
    private static final String WORKFLOW = """
            {"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "client"}}}""";

    @TempDir
    Path tmp;

    private FakeComfyUi fake;
    private FakeProcess running;

    @BeforeEach
    void installFake() {
        fake = FakeComfyUi.install(tmp.resolve("ComfyUI"));
    }

    @AfterEach
    void killFake() {
        if (running != null) {
            running.close();
        }
    }

    @Test
    void systemStatsReportsVersionsArgvAndDevices() {
        fake.behave(Map.of("devices", List.of(Map.of("name", "Test GPU", "vram_total", 8_000_000_000L,
                "vram_free", 6_000_000_000L))));
        ComfyClient client = launch("--disable-cuda-malloc");

        SystemStats stats = client.systemStats();

        assertThat(stats.os()).isEqualTo("posix");
        assertThat(stats.pythonVersion()).startsWith("3.");
        assertThat(stats.comfyuiVersion()).isNotEmpty();
        assertThat(stats.pytorchVersion()).isNotEmpty();
        assertThat(stats.argv()).containsExactly("main.py", "--port", String.valueOf(running.port()),
                "--disable-cuda-malloc");
        assertThat(stats.ramTotal()).isPositive();
        assertThat(stats.devices()).containsExactly(
                new SystemStats.Device("cuda:0 Test GPU : native", "cuda", 0, 8_000_000_000L, 6_000_000_000L));
    }

    @Test
    void theCpuDeviceHasNoIndex() {
        ComfyClient client = launch("--cpu");

        SystemStats.Device device = client.systemStats().devices().get(0);

        assertThat(device.type()).isEqualTo("cpu");
        assertThat(device.index()).isEqualTo(-1);
    }

    @Test
    void isReadyAndHealthAreUpForARunningComfyUi() {
        ComfyClient client = launch();

        Health health = client.health();

        assertThat(client.isReady()).isTrue();
        assertThat(health.ok()).isTrue();
        assertThat(health.error()).isEmpty();
        assertThat(health.latency()).isPositive();
    }

    @Test
    void isReadyIsFalseAndHealthNamesTheCauseWhenNothingListens() {
        ComfyClient client = ComfyClient.create(URI.create("http://127.0.0.1:" + Ports.free()), Duration.ofSeconds(5));

        Health health = client.health();

        assertThat(client.isReady()).isFalse();
        assertThat(health.ok()).isFalse();
        assertThat(health.error()).contains("/system_stats", "connection refused");
    }

    @Test
    void anHttpsAddressIsRefusedSayingComfyUiIsSpokenToInPlainHttp() {
        launch(Duration.ofSeconds(5));
        ComfyClient client = ComfyClient.create(URI.create("https://" + running.baseUri().getAuthority()), Duration.ofSeconds(5));

        assertThat(client.health().ok()).isFalse();
        assertThat(client.health().error()).contains("/system_stats", "plain HTTP");
        assertThatThrownBy(client::queue).isInstanceOf(ComfyApiException.class).hasMessageContaining("plain HTTP");
    }

    @Test
    void aHungComfyUiIsNotReadyAndCallsTimeOutWithoutHanging() {
        ComfyClient client = launch(Duration.ofSeconds(1));
        Http.send(HttpRequest.newBuilder(running.baseUri().resolve("fake/hang"))
                .POST(HttpRequest.BodyPublishers.noBody()));

        assertThat(client.isReady()).isFalse();
        assertThat(client.health().error()).contains("timed out after PT1S");
        ComfyApiException failure = catchThrowableOfType(ComfyApiException.class, client::systemStats);
        assertThat(failure.status()).isZero();
        assertThat(failure).hasMessageContaining("GET " + running.baseUri() + "system_stats timed out");
        assertThat(running.process().isAlive()).isTrue();
    }

    @Test
    void aNon200AnswerThrowsNamingTheUrlAndStatus() {
        launch();
        ComfyClient client = ComfyClient.create(running.baseUri().resolve("nope"), Duration.ofSeconds(5));

        ComfyApiException failure = catchThrowableOfType(ComfyApiException.class, client::queue);

        assertThat(failure.status()).isEqualTo(404);
        assertThat(failure.uri()).isEqualTo(running.baseUri().resolve("nope/queue"));
        assertThat(failure).hasMessage("GET " + running.baseUri() + "nope/queue answered 404: 404: Not Found");
    }

    @Test
    void submitQueuesAPromptWhoseHistoryShowsItsOutputs() throws Exception {
        ComfyClient client = launch();

        PromptResult result = client.submit(JSON.readTree(WORKFLOW), "client-1");

        assertThat(result.promptId()).isNotBlank();
        assertThat(result.nodeErrors().isEmpty()).isTrue();
        await().atMost(LONG).until(() -> !client.history(result.promptId()).isEmpty());
        JsonNode entry = client.history(result.promptId());
        assertThat(entry.at("/status/status_str").asText()).isEqualTo("success");
        assertThat(entry.at("/outputs/2/images/0/filename").asText()).isEqualTo("client_00001_.png");
        assertThat(entry.at("/prompt/3/client_id").asText()).isEqualTo("client-1");
    }

    @Test
    void anInvalidPromptThrowsPromptRejectedWithNodeErrors() throws Exception {
        ComfyClient client = launch();
        JsonNode prompt = JSON.readTree("""
                {"1": {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 64, "batch_size": 1, "color": 0}},
                 "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}}""");

        PromptRejectedException rejected = catchThrowableOfType(PromptRejectedException.class,
                () -> client.submit(prompt, null));

        assertThat(rejected.status()).isEqualTo(400);
        assertThat(rejected.errorType()).isEqualTo("prompt_outputs_failed_validation");
        assertThat(rejected.nodeErrors().at("/1/errors/0/type").asText()).isEqualTo("value_smaller_than_min");
        assertThat(rejected).hasMessageContaining("/prompt answered 400").hasMessageContaining("smaller than min");
        assertThat(client.queue().isIdle()).isTrue();
    }

    @Test
    void anUnknownNodeClassIsRejectedWithoutNodeErrors() throws Exception {
        ComfyClient client = launch();

        PromptRejectedException rejected = catchThrowableOfType(PromptRejectedException.class,
                () -> client.submit(JSON.readTree("{\"1\": {\"class_type\": \"KSampler\", \"inputs\": {}}}"), null));

        assertThat(rejected.errorType()).isEqualTo("invalid_prompt");
        assertThat(rejected.nodeErrors().isEmpty()).isTrue();
        assertThat(rejected).hasMessageContaining("KSampler does not exist");
    }

    @Test
    void queueListsTheRunningPromptAndThePendingOnesInOrder() throws Exception {
        fake.behave(Map.of("prompt_seconds", 60));
        ComfyClient client = launch();
        JsonNode prompt = JSON.readTree(WORKFLOW);

        String first = client.submit(prompt, null).promptId();
        String second = client.submit(prompt, null).promptId();
        String third = client.submit(prompt, null).promptId();

        await().atMost(LONG).until(() -> client.queue().runningCount() == 1);
        QueueStatus queue = client.queue();
        assertThat(queue.running()).containsExactly(first);
        assertThat(queue.pending()).containsExactly(second, third);
        assertThat(queue.isIdle()).isFalse();
    }

    @Test
    void interruptStopsTheRunningPrompt() throws Exception {
        fake.behave(Map.of("prompt_seconds", 60));
        ComfyClient client = launch();
        String promptId = client.submit(JSON.readTree(WORKFLOW), null).promptId();
        await().atMost(LONG).until(() -> client.queue().runningCount() == 1);

        client.interrupt();

        await().atMost(LONG).until(() -> !client.history(promptId).isEmpty());
        JsonNode status = client.history(promptId).get("status");
        assertThat(status.get("status_str").asText()).isEqualTo("error");
        assertThat(status.get("completed").asBoolean()).isFalse();
        assertThat(status.toString()).contains("execution_interrupted");
        assertThat(client.queue().isIdle()).isTrue();
    }

    @Test
    void freeSendsBothFlagsToComfyUi() throws Exception {
        ComfyClient client = launch();

        client.free(true, false);

        JsonNode env = JSON.readTree(Http.get(running.baseUri().resolve("fake/env")).body());
        assertThat(env.get("free_calls").asInt()).isEqualTo(1);
        assertThat(env.at("/free_requests/0/unload_models").asBoolean()).isTrue();
        assertThat(env.at("/free_requests/0/free_memory").asBoolean()).isFalse();
    }

    @Test
    void historyOfAnUnknownPromptIsEmpty() {
        ComfyClient client = launch();

        assertThat(client.history("no such id").isEmpty()).isTrue();
    }

    @Test
    void creationRefusesRelativeUrisAndNonPositiveTimeouts() {
        assertThatThrownBy(() -> ComfyClient.create(URI.create("/comfy"), Duration.ofSeconds(1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("/comfy");
        assertThatThrownBy(() -> ComfyClient.create(URI.create("http://127.0.0.1:8188"), Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("requestTimeout <= 0: PT0S");
    }

    @Test
    void aBaseUriWithoutTrailingSlashKeepsItsPath() {
        ComfyClient client = ComfyClient.create(URI.create("http://127.0.0.1:8188/comfy"), Duration.ofSeconds(1));

        assertThat(client.baseUri()).isEqualTo(URI.create("http://127.0.0.1:8188/comfy/"));
    }

    private ComfyClient launch(String... flags) {
        return launch(Duration.ofSeconds(10), flags);
    }

    private ComfyClient launch(Duration timeout, String... flags) {
        running = fake.launch(Ports.free(), flags);
        return ComfyClient.create(running.baseUri(), timeout);
    }
}
