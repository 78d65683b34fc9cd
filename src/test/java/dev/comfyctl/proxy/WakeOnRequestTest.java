package dev.comfyctl.proxy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.Daemon;
import dev.comfyctl.supervisor.InstanceState;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Http;
import dev.comfyctl.testing.TestConfigs;
import dev.comfyctl.testing.WsRecorder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocketHandshakeException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.awaitility.Awaitility.await;

/** The daemon's proxy waking ComfyUI on a request and putting it to sleep when idle (seed 002). */
@Timeout(120)
class WakeOnRequestTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PROMPT = """
            {"client_id": "wake-test", "prompt": {
              "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
              "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "woken"}}}}""";

    @TempDir
    Path temp;

    private FakeComfyUi fake;
    private Daemon daemon;
    private URI base;

    @BeforeEach
    void installFake() {
        fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
    }

    @AfterEach
    void stopDaemon() {
        if (daemon != null) {
            daemon.close();
        }
    }

    private void startDaemon(String... settings) {
        Config config = TestConfigs.forFake(fake, temp.resolve("state"), settings);
        daemon = Daemon.start(config, false);
        base = URI.create("http://127.0.0.1:" + config.managerPort());
    }

    private InstanceState state() {
        return daemon.instance().state();
    }

    @Test
    void bus008To010TheWebUiAndTheApiAnswerOnTheManagerPort() throws Exception {
        startDaemon();
        daemon.instance().start(event -> { }).join();

        HttpResponse<String> page = Http.get(base.resolve("/"));
        HttpResponse<String> prompt = Http.postJson(base.resolve("/prompt"), PROMPT);

        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.body()).contains("ws-state");
        assertThat(prompt.statusCode()).as(prompt.body()).isEqualTo(200);
        assertThat(JSON.readTree(prompt.body()).path("prompt_id").asText()).isNotEmpty();
    }

    @Test
    void concurrentRequestsDuringAWakeStartOneProcess() {
        fake.behave(Map.of("startup_delay_seconds", 1));
        startDaemon();

        List<CompletableFuture<HttpResponse<String>>> requests = IntStream.range(0, 12)
                .mapToObj(i -> Http.CLIENT.sendAsync(HttpRequest.newBuilder(base.resolve("/object_info")).build(),
                        HttpResponse.BodyHandlers.ofString()))
                .toList();

        assertThat(requests).allSatisfy(r -> assertThat(r.join().statusCode()).isEqualTo(200));
        assertThat(fake.starts()).hasSize(1);
    }

    @Test
    void aForgottenTabsWebSocketReconnectsAndPollingDoNotWakeComfyUi() {
        startDaemon();

        Throwable reconnect = catchThrowable(() -> WsRecorder.connect(Http.CLIENT, Http.ws(base.resolve("/ws?clientId=tab"))));
        HttpResponse<String> poll = Http.get(base.resolve("/queue"));

        assertThat(handshakeStatus(reconnect)).isEqualTo(503);
        assertThat(poll.statusCode()).isEqualTo(503);
        assertThat(poll.headers().firstValue("Retry-After")).isPresent();
        assertThat(fake.starts()).isEmpty();
        assertThat(state()).isEqualTo(InstanceState.STOPPED);
    }

    @Test
    void theWebUisPollingWhileAnIdleStopIsUnderWayDoesNotStartComfyUiAgain() {
        // ComfyUI ignoring SIGTERM holds the stop for the grace period, long enough to poll during it.
        fake.behave(Map.of("ignore_sigterm", true));
        startDaemon("IDLE_TIMEOUT_SECONDS", "1", "IDLE_CHECK_INTERVAL", "1", "COMFYUI_STOP_GRACE_SECONDS", "3");
        daemon.instance().start(event -> { }).join();
        await().atMost(Duration.ofSeconds(15)).until(() -> state() == InstanceState.STOPPING);

        HttpResponse<String> poll = Http.get(base.resolve("/queue"));

        assertThat(poll.statusCode()).isEqualTo(503);
        assertThat(poll.body()).contains("stopping", "passive");
        await().atMost(Duration.ofSeconds(15)).until(() -> state() == InstanceState.STOPPED);
        assertThat(fake.starts()).hasSize(1);
    }

    @Test
    void idleComfyUiIsStoppedAfterTheTimeoutAndWokenAgainByTheNextRequest() {
        startDaemon("IDLE_TIMEOUT_SECONDS", "2", "IDLE_CHECK_INTERVAL", "1");
        assertThat(Http.get(base.resolve("/object_info")).statusCode()).isEqualTo(200);

        await().atMost(Duration.ofSeconds(15)).until(() -> state() == InstanceState.STOPPED);

        assertThat(Http.get(base.resolve("/object_info")).statusCode()).isEqualTo(200);
        assertThat(fake.starts()).hasSize(2);
    }

    @Test
    void whileComfyUiRunsAUsersRequestsKeepItAwakeAndTheWebUisPollingDoesNot() throws Exception {
        startDaemon("IDLE_TIMEOUT_SECONDS", "2", "IDLE_CHECK_INTERVAL", "1");
        daemon.instance().start(event -> { }).join();

        long until = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (System.nanoTime() < until) {
            assertThat(Http.get(base.resolve("/object_info")).statusCode()).isEqualTo(200);
            Thread.sleep(400);
        }
        assertThat(state()).isEqualTo(InstanceState.READY);

        await().atMost(Duration.ofSeconds(15)).until(() -> Http.get(base.resolve("/queue")).statusCode() == 503
                && Http.get(base.resolve("/system_stats")).statusCode() == 503);
        assertThat(state()).isEqualTo(InstanceState.STOPPED);
        assertThat(fake.starts()).hasSize(1);
    }

    @Test
    void comfyUiIsNotStoppedWhileAPromptRuns() {
        fake.behave(Map.of("prompt_seconds", 5));
        startDaemon("IDLE_TIMEOUT_SECONDS", "1", "IDLE_CHECK_INTERVAL", "1");
        assertThat(Http.postJson(base.resolve("/prompt"), PROMPT).statusCode()).isEqualTo(200);

        await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(4)).until(() -> state() == InstanceState.READY);
        await().atMost(Duration.ofSeconds(20)).until(() -> state() == InstanceState.STOPPED);
    }

    @Test
    void messagesAClientSendsOverItsWebSocketKeepComfyUiAwake() throws Exception {
        startDaemon("IDLE_TIMEOUT_SECONDS", "2", "IDLE_CHECK_INTERVAL", "1");
        daemon.instance().start(event -> { }).join();
        try (WsRecorder ws = WsRecorder.connect(Http.CLIENT, Http.ws(base.resolve("/ws?clientId=active")))) {
            for (int i = 0; i < 8; i++) {
                ws.socket().sendText("{\"type\":\"ping\"}", true).get(5, TimeUnit.SECONDS);
                Thread.sleep(500);
                assertThat(state()).isEqualTo(InstanceState.READY);
            }
        }
        await().atMost(Duration.ofSeconds(15)).until(() -> state() == InstanceState.STOPPED);
    }

    @Test
    void aForgottenTabWithAnOpenWebSocketDoesNotKeepComfyUiAwake() throws Exception {
        startDaemon("IDLE_TIMEOUT_SECONDS", "2", "IDLE_CHECK_INTERVAL", "1");
        daemon.instance().start(event -> { }).join();
        try (WsRecorder ws = WsRecorder.connect(Http.CLIENT, Http.ws(base.resolve("/ws?clientId=forgotten")))) {
            await().until(() -> ws.types().contains("status"));

            await().atMost(Duration.ofSeconds(15)).until(() -> state() == InstanceState.STOPPED);

            assertThat(ws.closed().get(10, TimeUnit.SECONDS)).isNotNull();
        }
    }

    @Test
    void anApiClientWaitingPastTheStartupWaitGets503WithRetryAfterAndTheStartStep() throws Exception {
        fake.behave(Map.of("startup_delay_seconds", 5));
        startDaemon("STARTUP_WAIT_SECONDS", "1");

        HttpResponse<String> response = Http.get(base.resolve("/object_info"));

        assertThat(response.statusCode()).isEqualTo(503);
        assertThat(response.headers().firstValue("Retry-After")).contains("5");
        JsonNode body = JSON.readTree(response.body());
        assertThat(body.path("state").asText()).isEqualTo("STARTING");
        assertThat(body.path("stepTitle").asText()).isNotEmpty();
        await().atMost(Duration.ofSeconds(20)).until(() -> state() == InstanceState.READY);
    }

    @Test
    void aBrowserWaitingPastTheStartupWaitGetsAStartingPageThatReloadsItself() {
        fake.behave(Map.of("startup_delay_seconds", 5));
        startDaemon("STARTUP_WAIT_SECONDS", "1");

        HttpResponse<String> response = Http.send(HttpRequest.newBuilder(base.resolve("/")).header("Accept", "text/html"));

        assertThat(response.statusCode()).isEqualTo(503);
        assertThat(response.headers().firstValue("Content-Type")).hasValueSatisfying(type -> assertThat(type).startsWith("text/html"));
        assertThat(response.body()).contains("Starting ComfyUI", "/comfyctl/events", "location.reload()");
    }

    @Test
    void aStartThatFailsAnswers503WithTheReasonAndTheLogTail() throws Exception {
        fake.behave(Map.of("exit_at_startup", 3));
        startDaemon();

        HttpResponse<String> response = Http.get(base.resolve("/object_info"));

        assertThat(response.statusCode()).isEqualTo(503);
        JsonNode body = JSON.readTree(response.body());
        assertThat(body.path("error").asText()).contains("exited with code 3");
        assertThat(body.path("logTail").isArray()).isTrue();
    }

    @Test
    void afterAFailedStartRequestsGetTheFailureAtOnceUntilTheCooldownEndsAndAManualStartStillTries() throws Exception {
        fake.behave(Map.of("exit_at_startup", 3));
        startDaemon("WAKE_FAILED_COOLDOWN_SECONDS", "600");
        assertThat(Http.get(base.resolve("/object_info")).statusCode()).isEqualTo(503);
        assertThat(fake.starts()).hasSize(1);

        List<HttpResponse<String>> again = IntStream.range(0, 5).mapToObj(i -> Http.get(base.resolve("/object_info"))).toList();

        assertThat(fake.starts()).hasSize(1);
        assertThat(again).allSatisfy(response -> {
            assertThat(response.statusCode()).isEqualTo(503);
            assertThat(response.headers().firstValue("Retry-After")).isPresent();
            JsonNode body = JSON.readTree(response.body());
            assertThat(body.path("error").asText()).contains("exited with code 3", "WAKE_FAILED_COOLDOWN_SECONDS", "comfyctl start");
            assertThat(body.path("state").asText()).isEqualTo("FAILED");
            assertThat(body.path("logTail").toString()).contains("simulated start-up failure");
        });

        fake.behave(Map.of());
        daemon.instance().start(event -> { }).join();
        assertThat(state()).isEqualTo(InstanceState.READY);
        assertThat(fake.starts()).hasSize(2);
        assertThat(Http.get(base.resolve("/object_info")).statusCode()).isEqualTo(200);
    }

    @Test
    void aRequestAfterTheCooldownTriesToStartAgain() {
        fake.behave(Map.of("exit_at_startup", 3));
        startDaemon("WAKE_FAILED_COOLDOWN_SECONDS", "1");
        assertThat(Http.get(base.resolve("/object_info")).statusCode()).isEqualTo(503);
        fake.behave(Map.of());

        await().atMost(Duration.ofSeconds(20)).until(() -> Http.get(base.resolve("/object_info")).statusCode() == 200);

        assertThat(fake.starts()).hasSize(2);
    }

    @Test
    void theRootGoesToTheManagerPageWhenComfyUiSleepsAndMayNotBeWoken() {
        startDaemon("WAKE_ON_REQUEST", "false");

        HttpResponse<String> root = Http.send(HttpRequest.newBuilder(base.resolve("/")).header("Accept", "text/html"));
        HttpResponse<String> api = Http.get(base.resolve("/object_info"));

        assertThat(root.statusCode()).isEqualTo(302);
        assertThat(root.headers().firstValue("Location")).contains("/manager");
        assertThat(api.statusCode()).isEqualTo(503);
        assertThat(api.body()).contains("WAKE_ON_REQUEST=false");
        assertThat(fake.starts()).isEmpty();
    }

    @Test
    void aComfyUiManagerRestartThroughTheProxyBringsComfyUiBackWithoutCountingACrash() {
        startDaemon();
        daemon.instance().start(event -> { }).join();
        long firstPid = daemon.instance().snapshot().pid().orElseThrow();

        HttpResponse<String> reboot = Http.get(base.resolve("/api/manager/reboot"));

        assertThat(reboot.statusCode()).isEqualTo(502);
        await().atMost(Duration.ofSeconds(30)).until(() -> state() == InstanceState.READY
                && daemon.instance().snapshot().pid().orElse(firstPid) != firstPid);
        assertThat(daemon.instance().snapshot().consecutiveCrashes()).isZero();
        assertThat(daemon.instance().snapshot().lastError()).isEmpty();
        assertThat(fake.starts()).hasSize(2);
        assertThat(fake.starts().get(1)).contains("main.py");
    }

    @Test
    void comfyUiManagerRoutesGoToComfyUiNotToComfyctl() {
        startDaemon();
        daemon.instance().start(event -> { }).join();

        assertThat(Http.get(base.resolve("/manager/queue/status")).statusCode()).isEqualTo(200);
        assertThat(Http.get(base.resolve("/api/manager/queue/status")).statusCode()).isEqualTo(200);
        assertThat(Http.get(base.resolve("/manager/version")).body()).doesNotContain("<html");
    }

    private static int handshakeStatus(Throwable thrown) {
        for (Throwable cause = thrown; cause != null; cause = cause.getCause()) {
            if (cause instanceof WebSocketHandshakeException handshake) {
                return handshake.getResponse().statusCode();
            }
        }
        throw new AssertionError("not a refused WebSocket handshake", thrown);
    }
}
