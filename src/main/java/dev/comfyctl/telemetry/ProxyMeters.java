package dev.comfyctl.telemetry;

import dev.comfyctl.proxy.ProxyMetrics;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.BaseUnits;
import io.vertx.core.http.HttpMethod;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The proxy's meters. Labels are bounded on purpose: a method outside the common ones is {@code OTHER},
 * a status is its class ({@code 2xx}), and the path is never a label. Each (method, status) pair gets its
 * meters on first use and keeps them, so a request costs two array reads and the meters' own updates.
 */
final class ProxyMeters implements ProxyMetrics {
    private static final HttpMethod[] METHODS = {HttpMethod.GET, HttpMethod.HEAD, HttpMethod.POST, HttpMethod.PUT,
            HttpMethod.DELETE, HttpMethod.PATCH, HttpMethod.OPTIONS};
    private static final String OTHER_METHOD = "OTHER";
    private static final String[] STATUSES = {"aborted", "1xx", "2xx", "3xx", "4xx", "5xx", "other"};
    /** From a cached asset to a request that waited out a 30 s wake, and a slow upload or generation past it. */
    private static final Duration[] BUCKETS = {Duration.ofMillis(1), Duration.ofMillis(5), Duration.ofMillis(25),
            Duration.ofMillis(100), Duration.ofMillis(500), Duration.ofSeconds(1), Duration.ofSeconds(5),
            Duration.ofSeconds(30), Duration.ofSeconds(120)};

    private record Exchange(Counter requests, Timer duration) {
    }

    private final MeterRegistry registry;
    private final AtomicReferenceArray<Exchange> exchanges = new AtomicReferenceArray<>((METHODS.length + 1) * STATUSES.length);
    private final Counter httpIn;
    private final Counter httpOut;
    private final Counter webSocketIn;
    private final Counter webSocketOut;
    private final Counter webSocketsOpened;
    private final AtomicInteger webSocketsOpen = new AtomicInteger();

    ProxyMeters(MeterRegistry registry) {
        this.registry = registry;
        this.httpIn = bytes("in", "http");
        this.httpOut = bytes("out", "http");
        this.webSocketIn = bytes("in", "websocket");
        this.webSocketOut = bytes("out", "websocket");
        this.webSocketsOpened = Counter.builder("comfyctl.proxy.websockets.opened")
                .description("WebSocket tunnels opened to ComfyUI").register(registry);
        Gauge.builder("comfyctl.proxy.websockets.open", webSocketsOpen, AtomicInteger::get).strongReference(true)
                .description("WebSocket tunnels open now").register(registry);
    }

    private Counter bytes(String direction, String protocol) {
        return Counter.builder("comfyctl.proxy.bytes").baseUnit(BaseUnits.BYTES).tag("direction", direction).tag("protocol", protocol)
                .description("Bytes through the proxy: in from clients, out to them; HTTP bodies, WebSocket tunnels with framing")
                .register(registry);
    }

    @Override
    public void requestCompleted(HttpMethod method, int status, long nanos, long bytesIn, long bytesOut) {
        Exchange exchange = exchange(methodIndex(method), statusIndex(status));
        exchange.requests().increment();
        exchange.duration().record(nanos, TimeUnit.NANOSECONDS);
        httpIn.increment(bytesIn);
        httpOut.increment(bytesOut);
    }

    @Override
    public void webSocketOpened() {
        webSocketsOpened.increment();
        webSocketsOpen.incrementAndGet();
    }

    @Override
    public void webSocketBytesIn(int bytes) {
        webSocketIn.increment(bytes);
    }

    @Override
    public void webSocketBytesOut(int bytes) {
        webSocketOut.increment(bytes);
    }

    @Override
    public void webSocketClosed() {
        webSocketsOpen.decrementAndGet();
    }

    private Exchange exchange(int method, int status) {
        int slot = method * STATUSES.length + status;
        Exchange exchange = exchanges.get(slot);
        if (exchange == null) {
            // Two threads may both get here: the registry hands both the same meters, so either write is right.
            exchange = register(method == METHODS.length ? OTHER_METHOD : METHODS[method].name(), STATUSES[status]);
            exchanges.set(slot, exchange);
        }
        return exchange;
    }

    private Exchange register(String method, String status) {
        Counter requests = Counter.builder("comfyctl.proxy.requests").tag("method", method).tag("status", status)
                .description("Requests through the proxy, answered by ComfyUI or by comfyctl (503 while waking, 502)")
                .register(registry);
        Timer duration = Timer.builder("comfyctl.proxy.request.duration").tag("method", method).tag("status", status)
                .description("From a request's arrival, a wait for a wake included, to its response's end")
                .serviceLevelObjectives(BUCKETS)
                .register(registry);
        return new Exchange(requests, duration);
    }

    private static int methodIndex(HttpMethod method) {
        for (int i = 0; i < METHODS.length; i++) {
            if (METHODS[i].equals(method)) {
                return i;
            }
        }
        return METHODS.length;
    }

    private static int statusIndex(int status) {
        if (status == ABORTED) {
            return 0;
        }
        return status >= 100 && status < 600 ? status / 100 : STATUSES.length - 1;
    }
}
