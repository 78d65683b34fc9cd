package dev.comfyctl.telemetry;

import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.Daemon;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.OtlpReceiver;
import dev.comfyctl.testing.TestConfigs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Where spans go, from the standard OpenTelemetry variables. */
@Timeout(120)
class TracingTest {
    @TempDir
    Path temp;

    @Test
    void theStartupStepsReachARealOtlpHttpReceiverWithTheHeadersAndServiceName() {
        FakeComfyUi fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        Config config = TestConfigs.forFake(fake, temp.resolve("state"), "MACHINE_ID", "render-box-7");
        try (OtlpReceiver receiver = OtlpReceiver.start()) {
            Tracing tracing = Tracing.fromEnvironment(Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint(),
                    "OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20collector-token,x-tenant=studio",
                    "OTEL_SERVICE_NAME", "comfyctl-under-test",
                    "OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test"));
            assertThat(tracing.exporting()).isTrue();

            try (Daemon daemon = Daemon.start(config, false, tracing)) {
                daemon.finishStartup();
            }

            assertThat(receiver.requests()).isNotEmpty();
            assertThat(receiver.requests()).allSatisfy(request -> {
                assertThat(request.header("Content-Type")).isEqualTo("application/x-protobuf");
                assertThat(request.header("Authorization")).isEqualTo("Bearer collector-token");
                assertThat(request.header("x-tenant")).isEqualTo("studio");
            });
            assertThat(receiver.received()).contains("machine.startup", "machine.environment.config.load",
                    "machine.hardware.gpu.detect", "machine.comfyui.server.start", "machine.comfyui.process.launch",
                    "machine.ready.machine.complete", "render-box-7", "comfyctl-under-test", "deployment.environment");
        }
    }

    @Test
    void theTracesEndpointIsUsedAsIsAndWinsOverTheGeneralOne() {
        try (OtlpReceiver receiver = OtlpReceiver.start();
             Tracing tracing = Tracing.fromEnvironment(Map.of(
                     "OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1",
                     "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.endpoint() + "/v1/traces"))) {
            tracing.tracer().spanBuilder("machine.test.span.end").startSpan().end();
            tracing.close();

            assertThat(receiver.received()).contains("machine.test.span.end");
        }
    }

    @Test
    void withoutAnEndpointNothingIsExported() {
        assertThat(Tracing.fromEnvironment(Map.of("OTEL_SERVICE_NAME", "x")).exporting()).isFalse();
        assertThat(Tracing.fromEnvironment(Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318",
                "OTEL_SDK_DISABLED", "true")).exporting()).isFalse();
    }

    @Test
    void otlpOverGrpcIsAClearError() {
        assertThatThrownBy(() -> Tracing.fromEnvironment(Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317",
                "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported")
                .hasMessageContaining("http/protobuf");
    }

    @Test
    void aHeaderThatIsNotKeyValueIsAClearError() {
        assertThatThrownBy(() -> Tracing.fromEnvironment(Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318",
                "OTEL_EXPORTER_OTLP_HEADERS", "api-key")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("OTEL_EXPORTER_OTLP_HEADERS has 'api-key', which is not key=value");
    }
}
