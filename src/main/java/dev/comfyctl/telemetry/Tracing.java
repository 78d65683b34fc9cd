package dev.comfyctl.telemetry;

import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporterBuilder;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.SpanProcessor;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Where the daemon's spans go. With the standard {@code OTEL_EXPORTER_OTLP_ENDPOINT} (or
 * {@code OTEL_EXPORTER_OTLP_TRACES_ENDPOINT}) set, they are batched and sent with OTLP over HTTP
 * ({@code _HEADERS}, {@code OTEL_SERVICE_NAME} and {@code OTEL_RESOURCE_ATTRIBUTES} are honoured too);
 * otherwise the no-op tracer takes them, which costs nothing. Closing flushes what is queued.
 */
public final class Tracing implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Tracing.class);
    private static final String SCOPE = "dev.comfyctl";
    private static final long SHUTDOWN_SECONDS = 10;

    /** Spans go nowhere. */
    public static final Tracing NONE = new Tracing(OpenTelemetry.noop(), Optional.empty(), "no exporter");

    private final OpenTelemetry openTelemetry;
    private final Optional<SdkTracerProvider> provider;
    private final String destination;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Tracing(OpenTelemetry openTelemetry, Optional<SdkTracerProvider> provider, String destination) {
        this.openTelemetry = openTelemetry;
        this.provider = provider;
        this.destination = destination;
    }

    /**
     * Reads the OpenTelemetry exporter variables from {@code env} (the process environment).
     *
     * @throws IllegalArgumentException when they ask for something comfyctl cannot do, such as OTLP over gRPC
     */
    public static Tracing fromEnvironment(Map<String, String> env) {
        if (Boolean.parseBoolean(env.getOrDefault("OTEL_SDK_DISABLED", "false").strip())) {
            return NONE;
        }
        Optional<String> endpoint = tracesEndpoint(env);
        if (endpoint.isEmpty()) {
            return NONE;
        }
        String protocol = first(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL").orElse("http/protobuf");
        if (!protocol.equals("http/protobuf")) {
            throw new IllegalArgumentException("OTEL_EXPORTER_OTLP_PROTOCOL=" + protocol + " is not supported: comfyctl"
                    + " exports traces with OTLP over HTTP; unset it or set it to http/protobuf");
        }
        OtlpHttpSpanExporterBuilder exporter = OtlpHttpSpanExporter.builder().setEndpoint(endpoint.get());
        pairs(env, "OTEL_EXPORTER_OTLP_HEADERS").forEach(exporter::addHeader);
        pairs(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS").forEach(exporter::addHeader);
        SpanProcessor processor = BatchSpanProcessor.builder(exporter.build()).build();
        return sdk(processor, resource(env), endpoint.get());
    }

    /** Every span ends in {@code exporter} as soon as it ends; for tests. */
    public static Tracing exportingTo(SpanExporter exporter) {
        return sdk(SimpleSpanProcessor.create(exporter), resource(Map.of()), exporter.toString());
    }

    private static Tracing sdk(SpanProcessor processor, Resource resource, String destination) {
        SdkTracerProvider provider = SdkTracerProvider.builder().setResource(resource).addSpanProcessor(processor).build();
        return new Tracing(OpenTelemetrySdk.builder().setTracerProvider(provider).build(), Optional.of(provider), destination);
    }

    /** The signal's own endpoint as is, else the general one with {@code /v1/traces} appended (the OTLP rule). */
    private static Optional<String> tracesEndpoint(Map<String, String> env) {
        Optional<String> traces = first(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        if (traces.isPresent()) {
            return traces;
        }
        return first(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
                .map(base -> (base.endsWith("/") ? base : base + "/") + "v1/traces");
    }

    private static Resource resource(Map<String, String> env) {
        AttributesBuilder attributes = Attributes.builder();
        pairs(env, "OTEL_RESOURCE_ATTRIBUTES").forEach(attributes::put);
        attributes.put(AttributeKey.stringKey("service.name"), first(env, "OTEL_SERVICE_NAME")
                .orElse(pairs(env, "OTEL_RESOURCE_ATTRIBUTES").getOrDefault("service.name", "comfyctl")));
        return Resource.getDefault().merge(Resource.create(attributes.build()));
    }

    private static Optional<String> first(Map<String, String> env, String... names) {
        for (String name : names) {
            String value = env.get(name);
            if (value != null && !value.isBlank()) {
                return Optional.of(value.strip());
            }
        }
        return Optional.empty();
    }

    /** {@code key1=value1,key2=value2} with percent-encoded values, as the OpenTelemetry variables write them. */
    private static Map<String, String> pairs(Map<String, String> env, String name) {
        Map<String, String> pairs = new LinkedHashMap<>();
        for (String pair : first(env, name).orElse("").split(",")) {
            int equals = pair.indexOf('=');
            if (pair.isBlank()) {
                continue;
            }
            if (equals <= 0) {
                throw new IllegalArgumentException(name + " has '" + pair.strip() + "', which is not key=value;"
                        + " write it as key1=value1,key2=value2");
            }
            pairs.put(pair.substring(0, equals).strip(), URLDecoder.decode(pair.substring(equals + 1).strip(), StandardCharsets.UTF_8));
        }
        return pairs;
    }

    public Tracer tracer() {
        return openTelemetry.getTracer(SCOPE);
    }

    /** Whether spans go anywhere. */
    public boolean exporting() {
        return provider.isPresent();
    }

    /** Where spans go, for the log. */
    public String destination() {
        return destination;
    }

    /** Sends what is queued (bounded wait) and shuts the SDK down; idempotent. */
    @Override
    public void close() {
        if (closed.getAndSet(true) || provider.isEmpty()) {
            return;
        }
        if (!provider.get().shutdown().join(SHUTDOWN_SECONDS, TimeUnit.SECONDS).isSuccess()) {
            log.warn("Timed-out or failed sending the last spans to {} within {} s", destination, SHUTDOWN_SECONDS);
        }
    }
}
