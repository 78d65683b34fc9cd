package dev.comfyctl.telemetry;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.http.HttpMethod;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.TimeUnit;

import static dev.comfyctl.proxy.ProxyMetrics.ABORTED;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** The proxy's meters on their own registry: what each report becomes in a scrape. */
class ProxyMetersTest {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final ProxyMeters meters = new ProxyMeters(registry);

    @AfterEach
    void closeRegistry() {
        registry.close();
    }

    private PrometheusText scrape() {
        return PrometheusText.parse(registry.scrape());
    }

    @Test
    void requestsAreCountedByMethodAndStatusClassWithTheirDurationAndBytes() {
        meters.requestCompleted(HttpMethod.GET, 200, TimeUnit.MILLISECONDS.toNanos(3), 0, 1_000);
        meters.requestCompleted(HttpMethod.GET, 204, TimeUnit.MILLISECONDS.toNanos(40), 0, 0);
        meters.requestCompleted(HttpMethod.POST, 503, TimeUnit.SECONDS.toNanos(30), 500, 120);

        PrometheusText scrape = scrape();

        assertThat(scrape.value("comfyctl_proxy_requests_total", "method", "GET", "status", "2xx")).isEqualTo(2);
        assertThat(scrape.value("comfyctl_proxy_requests_total", "method", "POST", "status", "5xx")).isEqualTo(1);
        assertThat(scrape.value("comfyctl_proxy_request_duration_seconds_count", "method", "GET", "status", "2xx")).isEqualTo(2);
        assertThat(scrape.value("comfyctl_proxy_request_duration_seconds_sum", "method", "GET", "status", "2xx"))
                .isCloseTo(0.043, within(1e-9));
        assertThat(scrape.value("comfyctl_proxy_request_duration_seconds_bucket", "method", "GET", "status", "2xx", "le", "0.005"))
                .isEqualTo(1);
        assertThat(scrape.value("comfyctl_proxy_request_duration_seconds_bucket", "method", "POST", "status", "5xx", "le", "30.0"))
                .isEqualTo(1);
        assertThat(scrape.value("comfyctl_proxy_bytes_total", "direction", "in", "protocol", "http")).isEqualTo(500);
        assertThat(scrape.value("comfyctl_proxy_bytes_total", "direction", "out", "protocol", "http")).isEqualTo(1_120);
    }

    @Test
    void unusualMethodsAndStatusesFallIntoBoundedLabels() {
        meters.requestCompleted(HttpMethod.valueOf("PROPFIND"), 207, 1, 0, 0);
        meters.requestCompleted(HttpMethod.valueOf("MKCOL"), 201, 1, 0, 0);
        meters.requestCompleted(HttpMethod.GET, ABORTED, 1, 0, 0);
        meters.requestCompleted(HttpMethod.GET, 999, 1, 0, 0);

        PrometheusText scrape = scrape();

        assertThat(scrape.value("comfyctl_proxy_requests_total", "method", "OTHER", "status", "2xx")).isEqualTo(2);
        assertThat(scrape.value("comfyctl_proxy_requests_total", "method", "GET", "status", "aborted")).isEqualTo(1);
        assertThat(scrape.value("comfyctl_proxy_requests_total", "method", "GET", "status", "other")).isEqualTo(1);
        assertThat(scrape.samples()).filteredOn(s -> s.name().equals("comfyctl_proxy_requests_total")).hasSize(3);
    }

    @Test
    void openWebSocketsGoUpAndDownAndTheirBytesAreCounted() {
        meters.webSocketOpened();
        meters.webSocketOpened();
        meters.webSocketBytesIn(10);
        meters.webSocketBytesOut(300);
        meters.webSocketClosed();

        PrometheusText scrape = scrape();

        assertThat(scrape.value("comfyctl_proxy_websockets_open")).isEqualTo(1);
        assertThat(scrape.value("comfyctl_proxy_websockets_opened_total")).isEqualTo(2);
        assertThat(scrape.value("comfyctl_proxy_bytes_total", "direction", "in", "protocol", "websocket")).isEqualTo(10);
        assertThat(scrape.value("comfyctl_proxy_bytes_total", "direction", "out", "protocol", "websocket")).isEqualTo(300);
    }
}
