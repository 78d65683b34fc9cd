package dev.comfyctl.telemetry;

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
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** {@code GET /metrics} on an in-process daemon in front of the fake ComfyUI. */
@Timeout(120)
class MetricsEndpointTest {
    private static final String COMFYUI = Daemon.INSTANCE_NAME;

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

    private PrometheusText scrape() {
        HttpResponse<String> response = Http.get(base.resolve("/metrics"));
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return PrometheusText.parse(response.body());
    }

    private static void eventually(Runnable assertion) {
        await().atMost(Duration.ofSeconds(20)).untilAsserted(assertion::run);
    }

    @Test
    void theScrapeIsPrometheusTextWithTheInstanceAndTheJvmBasics() {
        startDaemon();

        HttpResponse<String> response = Http.get(base.resolve("/metrics"));
        PrometheusText scrape = PrometheusText.parse(response.body());

        assertThat(response.headers().firstValue("Content-Type")).hasValueSatisfying(type ->
                assertThat(type).startsWith("text/plain; version=0.0.4"));
        for (InstanceState state : InstanceState.values()) {
            assertThat(scrape.value("comfyctl_instance_state", "instance", COMFYUI, "state", state.name()))
                    .isEqualTo(state == InstanceState.STOPPED ? 1 : 0);
        }
        assertThat(scrape.value("comfyctl_instance_time_to_ready_seconds", "instance", COMFYUI)).isNaN();
        assertThat(scrape.has("jvm_memory_used_bytes")).isTrue();
        assertThat(scrape.has("jvm_threads_live_threads")).isTrue();
        assertThat(scrape.has("jvm_gc_collections_total")).isTrue();
        assertThat(scrape.has("jvm_gc_collection_time_seconds_total")).isTrue();
        assertThat(scrape.has("process_uptime_seconds")).isTrue();
    }

    @Test
    void scrapingIsComfyctlsOwnAndNeverWakesComfyUi() {
        startDaemon();

        scrape();

        assertThat(fake.starts()).isEmpty();
        assertThat(daemon.instance().state()).isEqualTo(InstanceState.STOPPED);
        assertThat(scrape().value("comfyctl_instance_wakes_total", "instance", COMFYUI)).isZero();
        assertThat(scrape().has("comfyctl_proxy_requests_total")).isFalse();
    }

    @Test
    void proxiedRequestsAWakeAndTheirBytesShowInTheScrape() {
        startDaemon();

        assertThat(Http.get(base.resolve("/object_info")).statusCode()).isEqualTo(200);
        assertThat(Http.get(base.resolve("/fake/bytes?n=1000")).body()).hasSize(1000);
        assertThat(Http.postJson(base.resolve("/fake/sink"), "x".repeat(500)).statusCode()).isEqualTo(200);
        assertThat(Http.get(base.resolve("/no/such/route")).statusCode()).isEqualTo(404);
        Http.send(HttpRequest.newBuilder(base.resolve("/fake/echo/dav")).method("PROPFIND", HttpRequest.BodyPublishers.noBody()));

        eventually(() -> {
            PrometheusText scrape = scrape();
            assertThat(scrape.value("comfyctl_proxy_requests_total", "method", "GET", "status", "2xx")).isEqualTo(2);
            assertThat(scrape.value("comfyctl_proxy_requests_total", "method", "POST", "status", "2xx")).isEqualTo(1);
            assertThat(scrape.value("comfyctl_proxy_requests_total", "method", "GET", "status", "4xx")).isEqualTo(1);
            assertThat(scrape.value("comfyctl_proxy_requests_total", "method", "OTHER")).isEqualTo(1);
            assertThat(scrape.value("comfyctl_proxy_request_duration_seconds_count", "method", "GET", "status", "2xx")).isEqualTo(2);
            assertThat(scrape.value("comfyctl_proxy_bytes_total", "direction", "in", "protocol", "http")).isEqualTo(500);
            assertThat(scrape.value("comfyctl_proxy_bytes_total", "direction", "out", "protocol", "http")).isGreaterThan(1000);
            assertThat(scrape.value("comfyctl_instance_wakes_total", "instance", COMFYUI)).isEqualTo(1);
            assertThat(scrape.value("comfyctl_instance_starts_total", "instance", COMFYUI, "outcome", "ready")).isEqualTo(1);
            assertThat(scrape.value("comfyctl_instance_starts_total", "instance", COMFYUI, "outcome", "failed")).isZero();
            assertThat(scrape.value("comfyctl_instance_time_to_ready_seconds", "instance", COMFYUI)).isPositive().isFinite();
            assertThat(scrape.value("comfyctl_instance_state", "instance", COMFYUI, "state", "READY")).isEqualTo(1);
        });
    }

    @Test
    void openWebSocketsCountDownWhenTheClientClosesAndWhenComfyUiGoesAway() throws Exception {
        startDaemon();
        daemon.instance().start(event -> { }).join();

        try (WsRecorder ws = WsRecorder.connect(Http.CLIENT, Http.ws(base.resolve("/ws?clientId=metrics")))) {
            await().until(() -> ws.types().contains("status"));
            ws.socket().sendText("{\"type\":\"ping\"}", true).get(5, TimeUnit.SECONDS);
            eventually(() -> assertThat(scrape().value("comfyctl_proxy_websockets_open")).isEqualTo(1));
        }
        eventually(() -> assertThat(scrape().value("comfyctl_proxy_websockets_open")).isZero());

        WsRecorder forgotten = WsRecorder.connect(Http.CLIENT, Http.ws(base.resolve("/ws?clientId=forgotten")));
        await().until(() -> forgotten.types().contains("status"));
        eventually(() -> assertThat(scrape().value("comfyctl_proxy_websockets_open")).isEqualTo(1));
        daemon.instance().stop().join();

        eventually(() -> {
            PrometheusText scrape = scrape();
            assertThat(scrape.value("comfyctl_proxy_websockets_open")).isZero();
            assertThat(scrape.value("comfyctl_proxy_websockets_opened_total")).isEqualTo(2);
            assertThat(scrape.value("comfyctl_proxy_requests_total", "method", "GET", "status", "1xx")).isEqualTo(2);
            assertThat(scrape.value("comfyctl_proxy_bytes_total", "direction", "in", "protocol", "websocket")).isPositive();
            assertThat(scrape.value("comfyctl_proxy_bytes_total", "direction", "out", "protocol", "websocket")).isPositive();
        });
        forgotten.close();
    }

    @Test
    void anIdleStopShowsInTheScrapeWithTheStartBeforeIt() {
        startDaemon("IDLE_TIMEOUT_SECONDS", "1", "IDLE_CHECK_INTERVAL", "1");
        assertThat(Http.get(base.resolve("/object_info")).statusCode()).isEqualTo(200);

        await().atMost(Duration.ofSeconds(20)).until(() -> daemon.instance().state() == InstanceState.STOPPED);

        eventually(() -> {
            PrometheusText scrape = scrape();
            assertThat(scrape.value("comfyctl_instance_idle_stops_total", "instance", COMFYUI)).isEqualTo(1);
            assertThat(scrape.value("comfyctl_instance_wakes_total", "instance", COMFYUI)).isEqualTo(1);
            assertThat(scrape.value("comfyctl_instance_starts_total", "instance", COMFYUI, "outcome", "ready")).isEqualTo(1);
            assertThat(scrape.value("comfyctl_instance_time_to_ready_seconds", "instance", COMFYUI)).isPositive().isFinite();
            assertThat(scrape.value("comfyctl_instance_state", "instance", COMFYUI, "state", "STOPPED")).isEqualTo(1);
            assertThat(scrape.value("comfyctl_instance_state", "instance", COMFYUI, "state", "READY")).isZero();
        });
    }

    @Test
    void aCrashIsCountedAndItsRestartIsAnotherStart() {
        startDaemon();
        daemon.instance().start(event -> { }).join();

        Http.postJson(base.resolve("/fake/crash"), "{}");

        eventually(() -> {
            PrometheusText scrape = scrape();
            assertThat(scrape.value("comfyctl_instance_crashes_total", "instance", COMFYUI)).isEqualTo(1);
            assertThat(scrape.value("comfyctl_instance_starts_total", "instance", COMFYUI, "outcome", "ready")).isEqualTo(2);
            assertThat(scrape.value("comfyctl_instance_state", "instance", COMFYUI, "state", "READY")).isEqualTo(1);
        });
    }
}
