package dev.comfyctl.web;

import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.Daemon;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Http;
import dev.comfyctl.testing.TestConfigs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.CookieManager;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/** Tokens, Origin checks and authentication in front of ComfyUI, against a real daemon. */
@Timeout(120)
class AccessGuardTest {
    private static final String TOKEN = "0123456789abcdef0123456789abcdef";

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

    private static HttpResponse<String> send(HttpClient client, HttpRequest.Builder request) throws Exception {
        return client.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void onlyComfyUisPathsAndOnlyWithoutProxyAuthenticationGoStraightToTheProxy() {
        AccessGuard open = new AccessGuard(Optional.of("secret"), AccessGuard.ProxyAuth.NONE, Optional.empty());
        assertThat(List.of("/", "/prompt", "/api/manager/queue/status", "/manager/queue/status", "/api/jobs/x"))
                .allMatch(open::forwardsUnchecked);
        assertThat(List.of("/manager", "/manager/status", "/comfyctl/app.js", "/jobs", "/jobs/x", "/fleet", "/metrics", "/health"))
                .noneMatch(open::forwardsUnchecked);

        for (AccessGuard.ProxyAuth auth : List.of(AccessGuard.ProxyAuth.TOKEN, AccessGuard.ProxyAuth.BASIC)) {
            assertThat(new AccessGuard(Optional.of("secret"), auth, Optional.of("user:pass")).forwardsUnchecked("/prompt")).isFalse();
        }
    }

    @Test
    void withATokenTheControlApiRefusesARequestWithoutItWith401() {
        startDaemon("MANAGER_TOKEN", TOKEN);

        HttpResponse<String> status = Http.get(base.resolve("/manager/status"));
        HttpResponse<String> page = Http.get(base.resolve("/manager"));
        HttpResponse<String> wrong = Http.send(HttpRequest.newBuilder(base.resolve("/manager/status"))
                .header("Authorization", "Bearer not-the-token"));

        assertThat(status.statusCode()).isEqualTo(401);
        assertThat(page.statusCode()).isEqualTo(401);
        assertThat(wrong.statusCode()).isEqualTo(401);
        assertThat(status.body()).contains("token");
    }

    @Test
    void theJobQueueIsComfyctlsOwnBehindTheTokenWhileComfyUisApiJobsStaysProxied() {
        startDaemon("MANAGER_TOKEN", TOKEN, "WAKE_ON_REQUEST", "false");

        HttpResponse<String> withoutToken = Http.get(base.resolve("/jobs"));
        HttpResponse<String> withToken = Http.send(HttpRequest.newBuilder(base.resolve("/jobs?state=queued"))
                .header("Authorization", "Bearer " + TOKEN));
        HttpResponse<String> fromAnotherSite = Http.send(HttpRequest.newBuilder(base.resolve("/jobs"))
                .header("Authorization", "Bearer " + TOKEN).header("Origin", "http://evil.example")
                .POST(HttpRequest.BodyPublishers.ofString("{}")));
        HttpResponse<String> comfyJobs = Http.get(base.resolve("/api/jobs"));

        assertThat(withoutToken.statusCode()).isEqualTo(401);
        assertThat(withToken.statusCode()).isEqualTo(200);
        assertThat(withToken.body()).contains("\"jobs\"");
        assertThat(fromAnotherSite.statusCode()).isEqualTo(403);
        assertThat(comfyJobs.statusCode()).as("proxied to the sleeping ComfyUI, not refused").isEqualTo(503);
    }

    @Test
    void theBearerTokenOpensTheControlApi() {
        startDaemon("MANAGER_TOKEN", TOKEN);

        HttpResponse<String> status = Http.send(HttpRequest.newBuilder(base.resolve("/manager/status"))
                .header("Authorization", "Bearer " + TOKEN));

        assertThat(status.statusCode()).isEqualTo(200);
    }

    @Test
    void aBrowserThatOpensThePageWithTheTokenOnceKeepsAccessThroughACookie() throws Exception {
        startDaemon("MANAGER_TOKEN", TOKEN);
        HttpClient browser = HttpClient.newBuilder().cookieHandler(new CookieManager()).build();

        HttpResponse<String> first = send(browser, HttpRequest.newBuilder(base.resolve("/manager?token=" + TOKEN)));
        HttpResponse<String> later = send(browser, HttpRequest.newBuilder(base.resolve("/manager/status")));

        assertThat(first.statusCode()).isEqualTo(200);
        assertThat(first.headers().firstValue("Set-Cookie")).hasValueSatisfying(cookie ->
                assertThat(cookie).contains(AccessGuard.COOKIE, "SameSite=Strict").containsIgnoringCase("HttpOnly"));
        assertThat(later.statusCode()).isEqualTo(200);
    }

    @Test
    void aChangeRequestedFromAnotherSiteIsRefusedEvenWithTheToken() {
        startDaemon("MANAGER_TOKEN", TOKEN);

        HttpResponse<String> crossSite = Http.send(HttpRequest.newBuilder(base.resolve("/manager/stop"))
                .header("Authorization", "Bearer " + TOKEN).header("Origin", "http://evil.example")
                .POST(HttpRequest.BodyPublishers.noBody()));
        HttpResponse<String> sameSite = Http.send(HttpRequest.newBuilder(base.resolve("/manager/stop"))
                .header("Authorization", "Bearer " + TOKEN).header("Origin", base.toString())
                .POST(HttpRequest.BodyPublishers.noBody()));

        assertThat(crossSite.statusCode()).isEqualTo(403);
        assertThat(sameSite.statusCode()).isEqualTo(200);
    }

    @Test
    void withoutATokenOnLoopbackAChangeFromAnotherSiteIsStillRefused() {
        startDaemon();

        HttpResponse<String> crossSite = Http.send(HttpRequest.newBuilder(base.resolve("/manager/start"))
                .header("Origin", "http://evil.example").POST(HttpRequest.BodyPublishers.noBody()));

        assertThat(crossSite.statusCode()).isEqualTo(403);
        assertThat(fake.starts()).isEmpty();
    }

    @Test
    void comfyUiNeedsNoCredentialsByDefaultEvenWhenTheControlApiHasAToken() {
        startDaemon("MANAGER_TOKEN", TOKEN);
        daemon.instance().start(event -> { }).join();

        assertThat(Http.get(base.resolve("/system_stats")).statusCode()).isEqualTo(200);
        assertThat(Http.get(base.resolve("/manager/queue/status")).statusCode()).isEqualTo(200);
    }

    @Test
    void basicAuthenticationInFrontOfComfyUiAsksForAndChecksTheCredentials() {
        startDaemon("PROXY_AUTH", "basic", "PROXY_BASIC_USER", "artist", "PROXY_BASIC_PASSWORD", "s3cret");
        daemon.instance().start(event -> { }).join();
        String good = Base64.getEncoder().encodeToString("artist:s3cret".getBytes(StandardCharsets.UTF_8));
        String bad = Base64.getEncoder().encodeToString("artist:guess".getBytes(StandardCharsets.UTF_8));

        HttpResponse<String> none = Http.get(base.resolve("/system_stats"));
        HttpResponse<String> wrong = Http.send(HttpRequest.newBuilder(base.resolve("/system_stats")).header("Authorization", "Basic " + bad));
        HttpResponse<String> right = Http.send(HttpRequest.newBuilder(base.resolve("/system_stats")).header("Authorization", "Basic " + good));
        HttpResponse<String> garbage = Http.send(HttpRequest.newBuilder(base.resolve("/system_stats")).header("Authorization", "Basic %%%"));

        assertThat(none.statusCode()).isEqualTo(401);
        assertThat(none.headers().firstValue("WWW-Authenticate")).hasValueSatisfying(v -> assertThat(v).startsWith("Basic"));
        assertThat(wrong.statusCode()).isEqualTo(401);
        assertThat(garbage.statusCode()).isEqualTo(401);
        assertThat(right.statusCode()).isEqualTo(200);
    }

    @Test
    void tokenAuthenticationInFrontOfComfyUiLetsABrowserInAfterOneVisitWithTheToken() throws Exception {
        startDaemon("MANAGER_TOKEN", TOKEN, "PROXY_AUTH", "token");
        daemon.instance().start(event -> { }).join();
        HttpClient browser = HttpClient.newBuilder().cookieHandler(new CookieManager()).build();

        HttpResponse<String> anonymous = Http.get(base.resolve("/system_stats"));
        HttpResponse<String> first = send(browser, HttpRequest.newBuilder(base.resolve("/?token=" + TOKEN)));
        HttpResponse<String> later = send(browser, HttpRequest.newBuilder(base.resolve("/system_stats")));

        assertThat(anonymous.statusCode()).isEqualTo(401);
        assertThat(first.statusCode()).isEqualTo(200);
        assertThat(later.statusCode()).isEqualTo(200);
    }
}
