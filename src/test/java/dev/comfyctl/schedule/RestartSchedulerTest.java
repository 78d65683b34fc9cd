package dev.comfyctl.schedule;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.comfy.ComfyClient;
import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.Daemon;
import dev.comfyctl.events.Events;
import dev.comfyctl.events.Event;
import dev.comfyctl.events.EventType;
import dev.comfyctl.gpu.GpuDetector;
import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.supervisor.InstanceSpec;
import dev.comfyctl.supervisor.InstanceState;
import dev.comfyctl.telemetry.EventFile;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.FakeNvidiaSmi;
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
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Scheduled restarts with short intervals against the fake ComfyUI (seed 003). */
@Timeout(120)
class RestartSchedulerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PROMPT = """
            {"client_id": "drain", "prompt": {
              "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
              "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "drained"}}}}""";

    @TempDir
    Path temp;

    private FakeComfyUi fake;
    private Config config;
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
        if (config == null) {
            config = TestConfigs.forFake(fake, temp.resolve("state"), settings);
        }
        daemon = Daemon.start(config, false);
        base = URI.create("http://127.0.0.1:" + config.managerPort());
    }

    private JsonNode schedule() throws Exception {
        return JSON.readTree(Http.get(base.resolve("/manager/schedule")).body());
    }

    private List<EventType> events() {
        return EventFile.read(temp.resolve("state"), Instant.EPOCH, Integer.MAX_VALUE).events().stream()
                .map(Event::type).filter(type -> type != EventType.SYSTEM_STATUS).toList();
    }

    private long pid() {
        return daemon.instance().snapshot().pid().orElse(-1);
    }

    @Test
    void aScheduledRestartWaitsForTheRunningPromptThenHappensAfterFreeingModels() throws Exception {
        fake.behave(Map.of("prompt_seconds", 4));
        startDaemon("COMFYUI_RESTART_INTERVAL", "3", "RESTART_DRAIN_MAX_SECONDS", "60");
        daemon.instance().start(event -> { }).join();
        long firstPid = pid();
        Path firstLog = daemon.instance().snapshot().sessionLog().orElseThrow();
        try (WsRecorder ws = WsRecorder.connect(Http.CLIENT, Http.ws(base.resolve("/ws?clientId=drain")))) {
            assertThat(Http.postJson(base.resolve("/prompt"), PROMPT).statusCode()).isEqualTo(200);

            await().atMost(Duration.ofSeconds(30)).until(() -> pid() != firstPid && daemon.instance().state() == InstanceState.READY);

            assertThat(ws.types()).contains("execution_success");
        }
        String oldLog = Files.readString(firstLog);
        assertThat(oldLog).contains("Prompt executed");
        assertThat(oldLog.indexOf("fake: POST /free")).isGreaterThan(oldLog.indexOf("Prompt executed"));
        await().atMost(Duration.ofSeconds(10)).until(() -> schedule().path("lastOutcome").asText().contains("scheduled restart done"));
        assertThat(schedule().path("lastOutcome").asText()).contains("waited");
        assertThat(events()).containsSubsequence(EventType.COMFYUI_READY, EventType.DRAIN_WAIT, EventType.SCHEDULED_RESTART,
                EventType.COMFYUI_STOP, EventType.COMFYUI_START, EventType.COMFYUI_READY);
    }

    @Test
    void theDrainLimitForcesTheRestart() throws Exception {
        fake.behave(Map.of("prompt_seconds", 60));
        startDaemon("COMFYUI_RESTART_INTERVAL", "2", "RESTART_DRAIN_MAX_SECONDS", "1");
        daemon.instance().start(event -> { }).join();
        long firstPid = pid();
        assertThat(Http.postJson(base.resolve("/prompt"), PROMPT).statusCode()).isEqualTo(200);

        await().atMost(Duration.ofSeconds(30)).until(() -> pid() != firstPid && daemon.instance().state() == InstanceState.READY);

        await().atMost(Duration.ofSeconds(10)).until(() -> schedule().path("lastOutcome").asText().contains("drain limit of 1 s reached"));
        assertThat(schedule().path("lastOutcome").asText()).contains("1 running");
    }

    @Test
    void aSleepingComfyUiIsNotWokenForARestartAndTheNextOneIsScheduled() throws Exception {
        startDaemon("COMFYUI_RESTART_INTERVAL", "1");
        String firstNext = schedule().path("nextRestart").asText();

        await().atMost(Duration.ofSeconds(15)).until(() -> schedule().path("lastOutcome").asText().contains("skipped"));

        assertThat(schedule().path("nextRestart").asText()).isNotEqualTo(firstNext);
        assertThat(fake.starts()).isEmpty();
        assertThat(EventFile.read(temp.resolve("state"), Instant.EPOCH, 100).events())
                .anySatisfy(event -> assertThat(event.fields()).containsEntry("skipped", true));
    }

    @Test
    void enablingAndDisablingSurvivesADaemonRestart() throws Exception {
        startDaemon("COMFYUI_RESTART_INTERVAL", "3600");
        assertThat(schedule().path("enabled").asBoolean()).isTrue();

        Http.send(HttpRequest.newBuilder(base.resolve("/manager/schedule/disable")).POST(HttpRequest.BodyPublishers.noBody()));
        daemon.close();
        startDaemon();
        assertThat(schedule().path("enabled").asBoolean()).isFalse();

        Http.send(HttpRequest.newBuilder(base.resolve("/manager/schedule/enable")).POST(HttpRequest.BodyPublishers.noBody()));
        String next = schedule().path("nextRestart").asText();
        daemon.close();
        startDaemon();
        assertThat(schedule().path("enabled").asBoolean()).isTrue();
        assertThat(schedule().path("nextRestart").asText()).isEqualTo(next);
    }

    @Test
    void autoRestartDisabledByConfigStartsOff() throws Exception {
        startDaemon("COMFYUI_AUTO_RESTART_DISABLED", "true");

        assertThat(schedule().path("enabled").asBoolean()).isFalse();
        assertThat(schedule().path("system").path("summary").asText()).contains("memory", "disk", "GPU 0");
    }

    @Test
    void aForcedRestartRestartsNow() throws Exception {
        startDaemon("COMFYUI_RESTART_INTERVAL", "3600");
        daemon.instance().start(event -> { }).join();
        long firstPid = pid();

        JsonNode result = JSON.readTree(Http.send(HttpRequest.newBuilder(base.resolve("/manager/schedule/force-restart?waitForQueue=true"))
                .POST(HttpRequest.BodyPublishers.noBody())).body());

        assertThat(result.path("ok").asBoolean()).isTrue();
        assertThat(result.path("outcome").asText()).contains("forced restart done", "queue was empty");
        assertThat(pid()).isNotEqualTo(firstPid);
    }

    @Test
    void aRestartWarnsWhenTheOldComfyUiStillHoldsGpuMemory() throws Exception {
        config = TestConfigs.forFake(fake, temp.resolve("state"), "GPU_MODE", "auto");
        Path apps = temp.resolve("gpu-apps");
        GpuDetector nvidia = GpuDetector.nvidiaSmi(GpuDetector.Mode.AUTO, Map.of("PATH", FakeNvidiaSmi.binDir() + ":/usr/bin:/bin",
                "FAKE_GPU_APPS_FILE", apps.toString()), Duration.ofSeconds(5));
        try (ComfyInstance instance = new ComfyInstance(config, new InstanceSpec("comfyui", config.comfyPort(), OptionalInt.empty(),
                config.logsDir(), config.home().resolve("comfyui.pid"), Map.of(),
                ComfyClient.create(URI.create("http://127.0.0.1:" + config.comfyPort()), Duration.ofSeconds(5))), nvidia);
             RestartScheduler scheduler = new RestartScheduler(instance,
                     ComfyClient.create(URI.create("http://127.0.0.1:" + config.comfyPort()), Duration.ofSeconds(5)), nvidia,
                     config.home(), Duration.ofHours(6), Duration.ofSeconds(5), false, Clock.systemUTC(), Events.NONE)) {
            instance.start(event -> { }).join();
            long oldPid = instance.snapshot().pid().orElseThrow();
            Files.writeString(apps, oldPid + ":1200");

            String outcome = scheduler.forceRestart(false).get(60, TimeUnit.SECONDS);

            assertThat(outcome).contains("WARNING: the old ComfyUI (pid " + oldPid + ") still holds GPU memory");
        }
    }

    @Test
    void aHungComfyUiIsRestartedByTheWatchdog() {
        startDaemon("HEALTH_CHECK_INTERVAL_SECONDS", "1", "HEALTH_CHECK_FAILURES", "2");
        daemon.instance().start(event -> { }).join();
        long firstPid = pid();

        Http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + config.comfyPort() + "/fake/hang"))
                .POST(HttpRequest.BodyPublishers.noBody()));

        await().atMost(Duration.ofSeconds(40)).until(() -> pid() != firstPid && pid() > 0
                && daemon.instance().state() == InstanceState.READY);
        assertThat(ProcessHandle.of(firstPid).filter(ProcessHandle::isAlive)).isEmpty();
        assertThat(events()).containsSubsequence(EventType.COMFYUI_READY, EventType.HANG, EventType.COMFYUI_STOP,
                EventType.COMFYUI_START, EventType.COMFYUI_READY);
    }
}
