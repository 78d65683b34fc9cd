package dev.comfyctl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.OtlpReceiver;
import dev.comfyctl.testing.Ports;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code comfyctl serve} as a real process: its startup steps in {@code comfyctl status} and at an OTLP receiver.
 * {@link Comfyctl} gives it no health server, so the steps are one fewer than with one.
 */
@Timeout(180)
class StartupStepsCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path temp;

    private FakeComfyUi fake;
    private OtlpReceiver receiver;
    private Comfyctl comfyctl;
    private Process serve;

    @BeforeEach
    void setUp() {
        fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        receiver = OtlpReceiver.start();
        comfyctl = new Comfyctl(temp, Map.of(
                "COMFYCTL_HOME", temp.resolve("state").toString(),
                "COMFYUI_DIR", fake.dir().toString(),
                "MANAGER_PORT", Integer.toString(Ports.free()),
                "COMFYUI_PORT", Integer.toString(Ports.free()),
                "GPU_MODE", "mock",
                "COMFYUI_RESTART_ON_CRASH", "false",
                "COMFYUI_STOP_GRACE_SECONDS", "2",
                "OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()));
    }

    @AfterEach
    void stopEverything() throws InterruptedException {
        if (serve != null) {
            serve.toHandle().destroy();
            serve.waitFor(30, TimeUnit.SECONDS);
        }
        receiver.close();
    }

    @Test
    void statusShowsWhichStartupStepFailedAndTheStepsReachTheCollector() throws Exception {
        fake.behave(Map.of("exit_at_startup", 3));
        serve = comfyctl.spawn("serve");

        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
            Comfyctl.Result status = comfyctl.run("status");
            assertThat(status.out()).contains("Machine ready");
        });
        Comfyctl.Result status = comfyctl.run("status");
        JsonNode json = JSON.readTree(comfyctl.run("status", "--json").out());

        assertThat(status.exitCode()).isZero();
        assertThat(status.out()).contains("startup:", " 3. GPU detection", "DONE",
                " 6. ComfyUI start: comfyui", "FAILED", "ComfyUI exited with code 3 before it was ready",
                " 7. Machine ready");
        assertThat(status.out()).doesNotContain("Health server");
        assertThat(json.path("steps").get(5).path("state").asText()).isEqualTo("FAILED");
        assertThat(json.path("steps").get(5).path("errorType").asText()).isEqualTo("start_failed");

        serve.toHandle().destroy();
        assertThat(serve.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(receiver.received()).contains("machine.startup", "machine.environment.config.load",
                "machine.comfyui.server.start", "machine.comfyui.process.launch", "machine.step.failure",
                "exited with code 3");
    }
}
