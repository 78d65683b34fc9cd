package dev.comfyctl.web;

import dev.comfyctl.comfy.ComfyClient;
import dev.comfyctl.config.Config;
import dev.comfyctl.gpu.GpuDetector;
import dev.comfyctl.process.SessionLogs;
import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.supervisor.InstanceSpec;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.TestConfigs;
import dev.comfyctl.testing.Http;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The manager page's routes and event stream on a router of their own, with a catch-all route standing in
 * for the proxy, and short intervals so that ticks and heartbeats show quickly.
 */
class EventStreamTest {
    private static final Duration PATIENCE = Duration.ofSeconds(10);
    private static final Instant SESSION = Instant.parse("2026-03-14T12:00:00Z");

    @TempDir
    Path temp;

    private FakeComfyUi fake;
    private Vertx vertx;
    private ComfyInstance instance;
    private SessionLogs logs;
    private EventStream stream;
    private URI base;

    @BeforeEach
    void serve() throws Exception {
        fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        Config config = TestConfigs.forFake(fake, temp.resolve("state"), "COMFYUI_RESTART_ON_CRASH", "false");
        instance = new ComfyInstance(config, new InstanceSpec("comfyui", config.comfyPort(), OptionalInt.empty(), config.logsDir(),
                config.home().resolve("comfyui.pid"), Map.of(), ComfyClient.create(URI.create("http://127.0.0.1:" + config.comfyPort()),
                Duration.ofSeconds(1))), GpuDetector.mock(1, 24564, "NVIDIA GeForce RTX 4090"));
        logs = new SessionLogs(config.logsDir());
        stream = new EventStream(instance, () -> new JsonObject().put("instances",
                new JsonArray().add(ControlRoutes.snapshotJson(instance.snapshot()))), logs, Duration.ofMillis(100), Duration.ofMillis(100));
        vertx = Vertx.vertx();
        Router router = Router.router(vertx);
        new ManagerPage(stream).mount(vertx, router);
        router.route().handler(ctx -> ctx.response().putHeader("X-Fell-Through", "yes").end());
        HttpServer server = vertx.createHttpServer().requestHandler(router).listen(0, "127.0.0.1")
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        base = URI.create("http://127.0.0.1:" + server.actualPort());
    }

    @AfterEach
    void close() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        instance.close();
    }

    @Test
    void comfyUiManagerPathsAndEveryOtherPathFallThroughToTheProxy() {
        for (String path : List.of("/manager/foo", "/manager/queue/status", "/manager/reboot", "/managerfoo",
                "/api/manager/queue/status", "/v2/manager/queue/status", "/comfyctl/eventsx")) {
            assertThat(Http.get(base.resolve(path)).headers().firstValue("X-Fell-Through")).as(path).hasValue("yes");
        }
        HttpResponse<String> post = Http.send(HttpRequest.newBuilder(base.resolve("/manager")).POST(HttpRequest.BodyPublishers.noBody()));
        assertThat(post.headers().firstValue("X-Fell-Through")).as("POST /manager").hasValue("yes");
    }

    @Test
    void thePageItsAssetsAndItsEventsDoNotFallThrough() throws Exception {
        for (String path : List.of("/manager", "/manager/", "/comfyctl/assets/manager.js", "/comfyctl/assets/missing.js")) {
            assertThat(Http.get(base.resolve(path)).headers().firstValue("X-Fell-Through")).as(path).isEmpty();
        }
        try (SseRecorder events = SseRecorder.connect(base.resolve(ManagerPage.EVENTS))) {
            assertThat(events.response().getHeader("X-Fell-Through")).isNull();
        }
    }

    @Test
    void aDisconnectedClientReleasesTheTimersAndTheLogFollower() throws Exception {
        append(logs.createNew(SESSION), "hello from ComfyUI\n");
        SseRecorder events = SseRecorder.connect(base.resolve(ManagerPage.EVENTS));
        await().atMost(PATIENCE).until(() -> events.logLines().contains("hello from ComfyUI"));
        assertThat(stream.clientCount()).isEqualTo(1);
        assertThat(stream.holdsResources()).isTrue();
        assertThat(followerThreads()).isEqualTo(1);

        events.close();

        await().atMost(PATIENCE).until(() -> stream.clientCount() == 0 && !stream.holdsResources() && followerThreads() == 0);
    }

    @Test
    void twoClientsShareOneFollowerAndTheSecondIsToldTheTailSoFar() throws Exception {
        Path log = append(logs.createNew(SESSION), "line 1\n");
        try (SseRecorder first = SseRecorder.connect(base.resolve(ManagerPage.EVENTS))) {
            await().atMost(PATIENCE).until(() -> first.logLines().contains("line 1"));
            append(log, "line 2\n");
            await().atMost(PATIENCE).until(() -> first.logLines().contains("line 2"));

            try (SseRecorder second = SseRecorder.connect(base.resolve(ManagerPage.EVENTS))) {
                await().atMost(PATIENCE).until(() -> second.logLines().containsAll(List.of("line 1", "line 2")));

                JsonObject tail = second.named("log").get(0).data();
                assertThat(tail.getBoolean("reset")).isTrue();
                assertThat(tail.getString("file")).isEqualTo(log.getFileName().toString());
                assertThat(stream.clientCount()).isEqualTo(2);
                assertThat(followerThreads()).isEqualTo(1);
            }
            await().atMost(PATIENCE).until(() -> stream.clientCount() == 1);
            assertThat(stream.holdsResources()).isTrue();
        }
    }

    @Test
    void aNewSessionLogIsAnnouncedAsAResetWithItsName() throws Exception {
        append(logs.createNew(SESSION), "first session\n");
        try (SseRecorder events = SseRecorder.connect(base.resolve(ManagerPage.EVENTS))) {
            await().atMost(PATIENCE).until(() -> events.logLines().contains("first session"));

            Path second = append(logs.createNew(SESSION.plusSeconds(60)), "second session\n");

            await().atMost(PATIENCE).until(() -> events.logLines().contains("second session"));
            assertThat(events.named("log")).anySatisfy(event -> {
                assertThat(event.data().getBoolean("reset")).isTrue();
                assertThat(event.data().getString("file")).isEqualTo(second.getFileName().toString());
            });
        }
    }

    @Test
    void aNewClientIsToldTheLastFiftyTransitionsAtOnceAndStaysConnected() throws Exception {
        Files.delete(fake.dir().resolve("main.py"));
        for (int i = 0; i < 20; i++) {
            instance.start(event -> { }).exceptionally(failure -> null).join();
            instance.stop().join();
        }

        try (SseRecorder events = SseRecorder.connect(base.resolve(ManagerPage.EVENTS))) {
            await().atMost(PATIENCE).until(() -> events.named("event").size() >= EventStream.HISTORY && events.named("status").size() >= 3);

            assertThat(events.named("event")).hasSize(EventStream.HISTORY);
            assertThat(events.named("event").get(EventStream.HISTORY - 1).data().getString("to")).isEqualTo("STOPPED");
            assertThat(stream.clientCount()).isEqualTo(1);
        }
    }

    @Test
    void aConnectedClientGetsTheStatusOnEveryTickAndHeartbeats() throws Exception {
        try (SseRecorder events = SseRecorder.connect(base.resolve(ManagerPage.EVENTS))) {
            await().atMost(PATIENCE).until(() -> events.named("status").size() >= 3 && events.comments().contains("heartbeat"));
        }
    }

    private static long followerThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(thread -> thread.isAlive() && thread.getName().equals(LogPump.THREAD_NAME)).count();
    }

    private static Path append(Path file, String text) throws Exception {
        return Files.writeString(file, text, StandardOpenOption.APPEND);
    }
}
