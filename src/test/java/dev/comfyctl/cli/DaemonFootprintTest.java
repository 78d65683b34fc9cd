package dev.comfyctl.cli;

import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Ports;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * What an idle daemon keeps loaded, read from its own class-loading log: a feature that is not configured costs
 * it nothing. (The idle RSS itself is measured by bench/supervisor.sh.)
 */
class DaemonFootprintTest {
    @TempDir
    Path temp;

    private Process serve;

    @AfterEach
    void stopServe() throws InterruptedException {
        if (serve != null) {
            serve.toHandle().destroy();
            serve.waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void aDaemonWithoutWebhooksTracingOrTlsLoadsNoTlsNoTracingSdkAndNoJna() throws IOException, InterruptedException {
        FakeComfyUi fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        Path classes = temp.resolve("classes.log");
        Map<String, String> environment = Map.of(
                "COMFYCTL_HOME", temp.resolve("state").toString(),
                "COMFYUI_DIR", fake.dir().toString(),
                "MANAGER_PORT", Integer.toString(Ports.free()),
                "COMFYUI_PORT", Integer.toString(Ports.free()),
                "GPU_MODE", "mock",
                "COMFYUI_STOP_GRACE_SECONDS", "2");
        Comfyctl daemon = new Comfyctl(temp, environment).withJvmOptions("-Xlog:class+load:file=" + classes);
        Comfyctl comfyctl = new Comfyctl(Files.createDirectories(temp.resolve("cli")), environment);

        serve = daemon.spawn("serve");
        await().atMost(Duration.ofSeconds(90)).untilAsserted(() ->
                assertThat(comfyctl.run("status").out()).contains("READY"));
        serve.toHandle().destroy();
        assertThat(serve.waitFor(30, TimeUnit.SECONDS)).isTrue();

        String loaded = Files.readString(classes);
        assertThat(loaded).contains("dev.comfyctl.daemon.Daemon ", "dev.comfyctl.comfy.ComfyClient ",
                "dev.comfyctl.schedule.SystemFigures ", "dev.comfyctl.telemetry.Webhooks ");
        // (Verifying Tracing loads two of the SDK's interfaces, SpanProcessor and SpanExporter: the SDK itself stays out.)
        assertThat(loaded).doesNotContain("sun.security.ssl.", "com.sun.jna.", "oshi.", "io.opentelemetry.sdk.OpenTelemetrySdk ",
                "io.opentelemetry.sdk.trace.SdkTracerProvider ", "io.opentelemetry.exporter.");
    }
}
