package dev.comfyctl.telemetry;

import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.Daemon;
import dev.comfyctl.events.Event;
import dev.comfyctl.events.EventType;
import dev.comfyctl.supervisor.InstanceState;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Http;
import dev.comfyctl.testing.TestConfigs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static dev.comfyctl.events.EventType.COMFYUI_READY;
import static dev.comfyctl.events.EventType.COMFYUI_START;
import static dev.comfyctl.events.EventType.COMFYUI_STOP;
import static dev.comfyctl.events.EventType.CRASH;
import static dev.comfyctl.events.EventType.DAEMON_START;
import static dev.comfyctl.events.EventType.DAEMON_STOP;
import static dev.comfyctl.events.EventType.FORCED_KILL;
import static dev.comfyctl.events.EventType.IDLE_STOP;
import static dev.comfyctl.events.EventType.SYSTEM_STATUS;
import static dev.comfyctl.events.EventType.WAKE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The daemon with the fake ComfyUI leaves every lifecycle event in events.jsonl, in order (issue 4). */
@Timeout(120)
class EventLogScenarioTest {
    private static final String LONG_PROMPT = """
            {"client_id": "events-test", "prompt": {
              "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
              "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "events"}}}}""";

    @TempDir
    Path temp;

    private FakeComfyUi fake;
    private Daemon daemon;
    private Path home;
    private URI base;

    @BeforeEach
    void installFake() {
        fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        home = temp.resolve("state");
    }

    @AfterEach
    void stopDaemon() {
        if (daemon != null) {
            daemon.close();
        }
    }

    private void startDaemon(String... settings) {
        Config config = TestConfigs.forFake(fake, home, settings);
        daemon = Daemon.start(config, false);
        base = URI.create("http://127.0.0.1:" + config.managerPort());
    }

    private List<Event> lifecycle() {
        return EventFile.read(home, Instant.EPOCH, Integer.MAX_VALUE).events().stream()
                .filter(event -> event.type() != SYSTEM_STATUS && event.type() != EventType.STARTUP_STEP).toList();
    }

    private List<EventType> lifecycleTypes() {
        return lifecycle().stream().map(Event::type).toList();
    }

    @Test
    void startRequestIdleStopWakeCrashAndStopAreAllInTheLogInOrder() {
        try (Receiver hook = Receiver.start(() -> 200)) {
            startDaemon("IDLE_TIMEOUT_SECONDS", "1", "IDLE_CHECK_INTERVAL", "1", "WEBHOOK_URLS", hook.url().toString());
            daemon.instance().start(event -> { }).join();
            assertThat(Http.get(base.resolve("/object_info")).statusCode()).isEqualTo(200);
            await().atMost(Duration.ofSeconds(20)).until(() -> lifecycleTypes().contains(COMFYUI_STOP));

            fake.behave(Map.of("prompt_seconds", 60));
            HttpResponse<String> wakingPrompt = Http.postJson(base.resolve("/prompt"), LONG_PROMPT);
            assertThat(wakingPrompt.statusCode()).as(wakingPrompt.body()).isEqualTo(200);
            long pid = daemon.instance().snapshot().pid().orElseThrow();
            fake.behave(Map.of());
            ProcessHandle.of(pid).orElseThrow().destroyForcibly();
            await().atMost(Duration.ofSeconds(30)).until(() -> lifecycleTypes().stream().filter(t -> t == IDLE_STOP).count() == 2
                    && daemon.instance().state() == InstanceState.STOPPED);
            daemon.close();

            assertThat(lifecycleTypes()).containsExactly(DAEMON_START,
                    COMFYUI_START, COMFYUI_READY, IDLE_STOP, COMFYUI_STOP,
                    WAKE, COMFYUI_START, COMFYUI_READY, CRASH, COMFYUI_START, COMFYUI_READY, IDLE_STOP, COMFYUI_STOP,
                    DAEMON_STOP);
            List<Event> events = lifecycle();
            assertThat(events.get(2).fields()).containsKey("timeToReadyMs");
            assertThat(events.get(3).message()).startsWith("idle for");
            assertThat(events.get(5).message()).isEqualTo("woken by POST /prompt");
            assertThat(events.get(8).fields()).containsEntry("exitCode", 137).containsEntry("restart", true);
            assertThat(events).extracting(Event::at).isSorted();
            assertThat(EventFile.read(home, Instant.EPOCH, Integer.MAX_VALUE).events()).extracting(Event::type).contains(SYSTEM_STATUS);
            await().atMost(Duration.ofSeconds(10)).until(() -> hook.acceptedTypes().contains("daemon_stop"));
            assertThat(hook.acceptedTypes().stream().filter(t -> !t.equals("system_status") && !t.equals("startup_step")).toList())
                    .containsExactlyElementsOf(lifecycleTypes().stream().map(EventType::id).toList());
        }
    }

    @Test
    void aForcedKillIsInTheLogBeforeTheStopThatNeededIt() {
        fake.behave(Map.of("ignore_sigterm", true));
        startDaemon("COMFYUI_STOP_GRACE_SECONDS", "1");
        daemon.instance().start(event -> { }).join();

        daemon.instance().stop().join();

        // The stop is posted, not waited for: it reports what already happened.
        await().atMost(Duration.ofSeconds(10)).until(() -> lifecycle().stream().anyMatch(e -> e.type() == COMFYUI_STOP));
        List<Event> events = lifecycle();
        assertThat(events).extracting(Event::type).containsSubsequence(COMFYUI_READY, FORCED_KILL, COMFYUI_STOP);
        Event stop = events.get(events.size() - 1);
        assertThat(stop.fields()).containsEntry("forced", true);
        assertThat(stop.message()).contains("killed after the 1 s grace period", "stop requested");
    }

    @Test
    void theManagerListsRecentEventsAsJson() {
        startDaemon();
        daemon.instance().start(event -> { }).join();

        HttpResponse<String> response = Http.get(base.resolve("/manager/events?since=1h&limit=2"));
        HttpResponse<String> bad = Http.get(base.resolve("/manager/events?since=soon"));

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.body()).contains("\"type\":\"comfyui_ready\"").doesNotContain("daemon_start");
        assertThat(bad.statusCode()).isEqualTo(400);
    }
}
