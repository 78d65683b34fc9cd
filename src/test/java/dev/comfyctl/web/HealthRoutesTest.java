package dev.comfyctl.web;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.Daemon;
import dev.comfyctl.daemon.DaemonException;
import dev.comfyctl.supervisor.InstanceState;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Http;
import dev.comfyctl.testing.Ports;
import dev.comfyctl.testing.TestConfigs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** /health, /ready and /status on the health port and on the manager port of a real daemon. */
@Timeout(120)
class HealthRoutesTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String TOKEN = "0123456789abcdef0123456789abcdef";

    @TempDir
    Path temp;

    private FakeComfyUi fake;
    private Config config;
    private Daemon daemon;

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
        config = TestConfigs.forFake(fake, temp.resolve("state"), settings);
        daemon = Daemon.start(config, false);
    }

    private URI health(String path) {
        return URI.create("http://127.0.0.1:" + config.healthPort() + path);
    }

    private URI manager(String path) {
        return URI.create("http://127.0.0.1:" + config.managerPort() + path);
    }

    private static JsonNode json(HttpResponse<String> response) {
        try {
            return JSON.readTree(response.body());
        } catch (Exception e) {
            throw new AssertionError("not JSON: " + response.body(), e);
        }
    }

    @Test
    void readyFlipsFrom503To200OnlyWhenEveryInstanceIsReady() {
        fake.behave(Map.of("startup_delay_seconds", 5));
        startDaemon();
        HttpResponse<String> stopped = Http.get(health("/ready"));
        assertThat(stopped.statusCode()).isEqualTo(503);
        assertThat(json(stopped).path("notReady").get(0).path("state").asText()).isEqualTo("STOPPED");

        CompletableFuture<Void> startup = CompletableFuture.runAsync(daemon::finishStartup);
        await().atMost(Duration.ofSeconds(20)).until(() -> daemon.instance().state() == InstanceState.STARTING);
        HttpResponse<String> starting = Http.get(health("/ready"));
        HttpResponse<String> startingOnManager = Http.get(manager("/ready"));
        startup.join();

        assertThat(starting.statusCode()).isEqualTo(503);
        assertThat(json(starting).path("ready").asBoolean()).isFalse();
        assertThat(json(starting).path("notReady").get(0).path("name").asText()).isEqualTo("comfyui");
        assertThat(json(starting).path("notReady").get(0).path("state").asText()).isEqualTo("STARTING");
        assertThat(startingOnManager.statusCode()).isEqualTo(503);
        assertThat(daemon.instance().state()).isEqualTo(InstanceState.READY);
        HttpResponse<String> ready = Http.get(health("/ready"));
        assertThat(ready.statusCode()).as(ready.body()).isEqualTo(200);
        assertThat(json(ready).path("ready").asBoolean()).isTrue();
        assertThat(json(ready).has("notReady")).isFalse();
        assertThat(Http.get(manager("/ready")).statusCode()).isEqualTo(200);
    }

    @Test
    void readyIs503AgainOnceAnInstanceStops() {
        startDaemon();
        daemon.finishStartup();
        assertThat(Http.get(health("/ready")).statusCode()).isEqualTo(200);

        daemon.instance().stop().join();

        HttpResponse<String> stopped = Http.get(health("/ready"));
        assertThat(stopped.statusCode()).isEqualTo(503);
        assertThat(json(stopped).path("notReady").get(0).path("state").asText()).isEqualTo("STOPPED");
    }

    @Test
    void healthAnswers200WhileTheDaemonRunsWhateverComfyUiDoes() {
        fake.behave(Map.of("exit_at_startup", 3));
        startDaemon("COMFYUI_RESTART_ON_CRASH", "false");
        daemon.finishStartup();

        HttpResponse<String> onHealthPort = Http.get(health("/health"));
        HttpResponse<String> onManagerPort = Http.get(manager("/health"));

        assertThat(daemon.instance().state()).isEqualTo(InstanceState.FAILED);
        assertThat(onHealthPort.statusCode()).isEqualTo(200);
        assertThat(json(onHealthPort).path("status").asText()).isEqualTo("alive");
        assertThat(onManagerPort.statusCode()).isEqualTo(200);
        daemon.close();
        assertThatThrownBy(() -> Http.get(health("/health"))).isInstanceOf(UncheckedIOException.class);
    }

    @Test
    void statusListsEveryStepWithStateDurationAndErrorAndTheInstances() {
        fake.behave(Map.of("exit_at_startup", 3));
        startDaemon("COMFYUI_RESTART_ON_CRASH", "false");
        daemon.finishStartup();

        JsonNode status = json(Http.get(health("/status")));

        assertThat(status.path("ready").asBoolean()).isFalse();
        JsonNode steps = status.path("steps");
        assertThat(steps).extracting(step -> step.path("name").asText()).containsExactly("Configuration", "State directory",
                "GPU detection", "Instance plan", "Health server", "Manager port", "ComfyUI start: comfyui", "Machine ready");
        assertThat(steps).extracting(step -> step.path("number").asInt()).containsExactly(1, 2, 3, 4, 5, 6, 7, 8);
        assertThat(steps).allSatisfy(step -> {
            assertThat(step.has("durationMs")).as(step.toString()).isTrue();
            assertThat(step.path("span").asText()).startsWith("machine.");
        });
        assertThat(steps.get(2).path("state").asText()).isEqualTo("DONE");
        assertThat(steps.get(2).path("detail").asText()).contains("NVIDIA GeForce RTX 4090");
        JsonNode failed = steps.get(6);
        assertThat(failed.path("state").asText()).isEqualTo("FAILED");
        assertThat(failed.path("phase").asText()).isEqualTo("comfyui_start");
        assertThat(failed.path("span").asText()).isEqualTo("machine.comfyui.server.start");
        assertThat(failed.path("errorType").asText()).isEqualTo("start_failed");
        assertThat(failed.path("error").asText()).contains("exited with code 3");
        assertThat(steps.get(7).path("state").asText()).isEqualTo("FAILED");
        JsonNode instance = status.path("instances").get(0);
        assertThat(instance.path("name").asText()).isEqualTo("comfyui");
        assertThat(instance.path("state").asText()).isEqualTo("FAILED");
        assertThat(instance.path("lastError").asText()).contains("exited with code 3");
        assertThat(instance.path("steps")).anySatisfy(step -> assertThat(step.path("outcome").asText()).isEqualTo("FAILED"));
    }

    @Test
    void withoutAutostartTheComfyUiStartStepIsSkippedAndSaysWhy() {
        startDaemon("COMFYUI_AUTOSTART", "false");
        daemon.finishStartup();

        JsonNode steps = json(Http.get(health("/status"))).path("steps");

        assertThat(steps.get(6).path("state").asText()).isEqualTo("SKIPPED");
        assertThat(steps.get(6).path("detail").asText()).contains("COMFYUI_AUTOSTART=false");
        assertThat(steps.get(7).path("state").asText()).isEqualTo("DONE");
        assertThat(fake.starts()).isEmpty();
    }

    @Test
    void theManagerStatusCarriesTheStepsToo() {
        startDaemon();
        daemon.finishStartup();

        JsonNode status = json(Http.get(manager("/manager/status")));

        assertThat(status.path("steps")).hasSize(8);
        assertThat(status.path("steps").get(7).path("name").asText()).isEqualTo("Machine ready");
        assertThat(status.path("steps").get(7).path("state").asText()).isEqualTo("DONE");
    }

    @Test
    void onTheManagerPortTheRoutesNeedTheTokenButTheHealthPortServesProbesWithout() {
        startDaemon("MANAGER_TOKEN", TOKEN);

        for (String path : List.of("/health", "/ready", "/status")) {
            assertThat(Http.get(manager(path)).statusCode()).as(path).isEqualTo(401);
        }
        assertThat(Http.get(health("/health")).statusCode()).isEqualTo(200);
        assertThat(Http.get(health("/status")).statusCode()).isEqualTo(200);
        assertThat(Http.get(health("/ready")).statusCode()).isEqualTo(503);
        assertThat(Http.get(health("/prompt")).statusCode()).isEqualTo(404);
    }

    @Test
    void healthPortZeroMeansNoHealthServerAndTheManagerPortStillServesTheRoutes() {
        startDaemon("HEALTH_PORT", "0");
        daemon.finishStartup();

        assertThat(daemon.healthPort()).isEmpty();
        assertThat(Http.get(manager("/ready")).statusCode()).isEqualTo(200);
        assertThat(json(Http.get(manager("/status"))).path("steps")).extracting(step -> step.path("name").asText())
                .doesNotContain("Health server");
    }

    @Test
    void aTakenHealthPortIsAClearStartupErrorNamingTheHolderAndLeavesNothingBehind() throws Exception {
        int port = Ports.free();
        try (ServerSocket holder = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
            Config taken = TestConfigs.forFake(fake, temp.resolve("state"), "HEALTH_PORT", Integer.toString(port));

            assertThatThrownBy(() -> Daemon.start(taken, false))
                    .isInstanceOf(DaemonException.class)
                    .hasMessageContaining("cannot listen on 127.0.0.1:" + port + " for the health server")
                    .hasMessageContaining("held by pid " + ProcessHandle.current().pid())
                    .hasMessageContaining("Set HEALTH_PORT to a free port");
            assertThat(temp.resolve("state/daemon.json")).doesNotExist();
        }
        startDaemon();
        assertThat(Http.get(health("/health")).statusCode()).isEqualTo(200);
    }
}
