package dev.comfyctl.web;

import dev.comfyctl.daemon.Daemon;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.TestConfigs;
import dev.comfyctl.testing.Http;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The manager page, its assets and its event stream, served by a real in-process daemon supervising the fake ComfyUI. */
class ManagerPageTest {
    private static final Duration PATIENCE = Duration.ofSeconds(30);
    private static final Pattern SCRIPT = Pattern.compile("src=\"(/comfyctl/assets/manager\\.js\\?v=([0-9a-f]+))\"");

    @TempDir
    Path temp;

    private Daemon daemon;
    private URI base;

    @BeforeEach
    void startDaemon() {
        FakeComfyUi fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        daemon = Daemon.start(TestConfigs.forFake(fake, temp.resolve("state"), "COMFYUI_RESTART_ON_CRASH", "false"), false);
        base = URI.create(daemon.info().baseUrl());
    }

    @AfterEach
    void closeDaemon() {
        daemon.close();
    }

    @Test
    void managerIsAnHtmlPageThatLinksItsAssetsAndComfyUi() {
        HttpResponse<String> page = Http.get(base.resolve("/manager"));

        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.headers().firstValue("Content-Type")).hasValue("text/html; charset=utf-8");
        assertThat(page.headers().firstValue("Content-Security-Policy")).hasValueSatisfying(csp -> assertThat(csp).contains("script-src 'self'"));
        assertThat(page.body()).contains("<title>", "href=\"/\"", "/comfyctl/assets/manager.css?v=", "/comfyctl/assets/manager.js?v=")
                .doesNotContain("{{", "http://", "https://");
    }

    @Test
    void managerWithATrailingSlashRedirectsToThePageKeepingTheQuery() {
        HttpResponse<String> redirect = Http.get(base.resolve("/manager/?token=abc"));

        assertThat(redirect.statusCode()).isEqualTo(302);
        assertThat(redirect.headers().firstValue("Location")).hasValue("/manager?token=abc");
    }

    @Test
    void assetsAreServedWithTheirTypeAndCachedForGoodUnderTheHashThePageLinks() {
        Matcher script = SCRIPT.matcher(Http.get(base.resolve("/manager")).body());
        assertThat(script.find()).isTrue();

        HttpResponse<String> js = Http.get(base.resolve(script.group(1)));
        HttpResponse<String> css = Http.get(base.resolve("/comfyctl/assets/manager.css"));

        assertThat(js.statusCode()).isEqualTo(200);
        assertThat(js.headers().firstValue("Content-Type")).hasValue("text/javascript; charset=utf-8");
        assertThat(js.headers().firstValue("Cache-Control")).hasValue("public, max-age=31536000, immutable");
        assertThat(js.headers().firstValue("ETag")).hasValue("\"" + script.group(2) + "\"");
        assertThat(js.body()).contains("EventSource");
        assertThat(css.statusCode()).isEqualTo(200);
        assertThat(css.headers().firstValue("Content-Type")).hasValue("text/css; charset=utf-8");
        assertThat(css.headers().firstValue("Cache-Control")).hasValue("no-cache");
    }

    @Test
    void anAssetWhoseEtagTheBrowserHasIsNotSentAgain() {
        String etag = Http.get(base.resolve("/comfyctl/assets/manager.css")).headers().firstValue("ETag").orElseThrow();

        HttpResponse<String> again = Http.send(HttpRequest.newBuilder(base.resolve("/comfyctl/assets/manager.css"))
                .header("If-None-Match", etag));

        assertThat(again.statusCode()).isEqualTo(304);
        assertThat(again.body()).isEmpty();
    }

    @Test
    void anUnknownAssetIsNotFound() {
        assertThat(Http.get(base.resolve("/comfyctl/assets/nothing.js")).statusCode()).isEqualTo(404);
    }

    @Test
    void eventsStartWithTheStatusThenShowTheStartLiveUntilReady() throws Exception {
        try (SseRecorder events = SseRecorder.connect(base.resolve(ManagerPage.EVENTS))) {
            assertThat(events.response().statusCode()).isEqualTo(200);
            assertThat(events.response().getHeader("Content-Type")).isEqualTo("text/event-stream; charset=utf-8");
            await().atMost(PATIENCE).until(() -> !events.events().isEmpty());
            SseRecorder.Event first = events.events().get(0);
            assertThat(first.name()).isEqualTo("status");
            assertThat(first.data().getJsonArray("instances").getJsonObject(0).getString("state")).isEqualTo("STOPPED");
            assertThat(first.data().getJsonArray("gpus").getJsonObject(0).getString("name")).isEqualTo("NVIDIA GeForce RTX 4090");

            HttpResponse<String> started = Http.postJson(base.resolve("/manager/start"), "{}");

            assertThat(started.statusCode()).as(started.body()).isEqualTo(200);
            await().atMost(PATIENCE).until(() -> events.sawState("READY"));
            assertThat(events.named("event")).extracting(event -> event.data().getString("to")).containsSubsequence("STARTING", "READY");
            assertThat(events.named("step")).extracting(event -> event.data().getString("title")).contains("preflight", "launch ComfyUI");
            await().atMost(PATIENCE).until(() -> events.logLines().stream().anyMatch(line -> line.contains("To see the GUI go to")));
        }
    }

    @Test
    void aNewClientIsToldTheRecentTransitionsAndTheLogTail() throws Exception {
        daemon.instance().start(event -> { }).join();

        try (SseRecorder events = SseRecorder.connect(base.resolve(ManagerPage.EVENTS))) {
            await().atMost(PATIENCE).until(() -> events.logLines().stream().anyMatch(line -> line.contains("To see the GUI go to")));

            assertThat(events.events().get(0).name()).isEqualTo("status");
            JsonObject ready = events.named("event").get(events.named("event").size() - 1).data();
            assertThat(ready.getString("from")).isEqualTo("STARTING");
            assertThat(ready.getString("to")).isEqualTo("READY");
            assertThat(ready.getString("reason")).startsWith("ready in ");
            assertThat(events.named("log").get(0).data().getBoolean("reset")).isTrue();
        }
    }
}
