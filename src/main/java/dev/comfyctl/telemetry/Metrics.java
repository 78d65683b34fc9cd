package dev.comfyctl.telemetry;

import dev.comfyctl.proxy.ProxyMetrics;
import dev.comfyctl.proxy.WakePolicy;
import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.supervisor.IdleStopper;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.http.HttpHeaders;
import io.vertx.ext.web.Router;

/**
 * The daemon's metrics, scraped by Prometheus at {@code GET /metrics}: the proxy's traffic, each instance's
 * lifecycle, and the JVM's memory, threads, GC, CPU and open files. Names start with {@code comfyctl_} and
 * use base units (seconds, bytes).
 */
public final class Metrics implements AutoCloseable {
    /** Prometheus' text exposition format. */
    private static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final ProxyMeters proxy = new ProxyMeters(registry);

    public Metrics() {
        new JvmMemoryMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new GcCounters().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);
    }

    /** What the proxy reports to. */
    public ProxyMetrics proxy() {
        return proxy;
    }

    /** Meters the instance's state, starts and crashes, and the wakes and idle stops of its policies. */
    public void watch(ComfyInstance instance, WakePolicy wakes, IdleStopper idle) {
        InstanceMeters.register(registry, instance, wakes, idle);
    }

    /** {@code GET /metrics}, exactly; mount it before the proxy's catch-all route. */
    public void mount(Router router) {
        // Off the event loop: the JVM meters walk every thread, and the proxy shares that loop.
        router.get("/metrics").handler(ctx -> ctx.vertx().executeBlocking(registry::scrape, false)
                .onSuccess(text -> ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, CONTENT_TYPE).end(text))
                .onFailure(ctx::fail));
    }

    /** Idempotent. */
    @Override
    public void close() {
        registry.close();
    }
}
