package dev.comfyctl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.supervisor.Strays;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Ports;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** comfyctl start, status, stop as real processes with WORKERS=comfyui:auto on two mock GPUs. */
class MultiInstanceCommandsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path temp;

    private FakeComfyUi fake;
    private Comfyctl comfyctl;
    private int comfyPort;

    @BeforeEach
    void setUp() {
        fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        fake.behave(Map.of("devices", FakeComfyUi.gpus(2)));
        comfyPort = Ports.freeRun(2);
        comfyctl = new Comfyctl(temp, Map.of(
                "COMFYCTL_HOME", temp.resolve("state").toString(),
                "COMFYUI_DIR", fake.dir().toString(),
                "MANAGER_PORT", Integer.toString(Ports.free()),
                "COMFYUI_PORT", Integer.toString(comfyPort),
                "GPU_MODE", "mock",
                "GPU_MOCK_COUNT", "2",
                "GPU_MOCK_NAME", "NVIDIA GeForce RTX 4090",
                "WORKERS", "comfyui:auto",
                "COMFYUI_STOP_GRACE_SECONDS", "2"));
    }

    @AfterEach
    void stopEverything() {
        comfyctl.run("stop");
    }

    @Test
    void startStartsEveryInstanceAndStatusShowsThemAsATable() {
        Comfyctl.Result started = comfyctl.run("start");

        assertThat(started.exitCode()).as(started.err()).isZero();
        assertThat(started.out()).contains("comfyui-gpu0 [1/8] preflight", "comfyui-gpu1 [1/8] preflight",
                "comfyui-gpu0: ready (pid ", "comfyui-gpu1: ready (pid ", "(2 instances)");

        Comfyctl.Result status = comfyctl.run("status");

        assertThat(status.exitCode()).as(status.err()).isZero();
        List<String> lines = status.out().lines().toList();
        assertThat(lines).anySatisfy(line -> assertThat(line).startsWith("name").contains("state", "pid", "port", "gpu",
                "uptime", "restarts", "queue"));
        for (int index = 0; index < 2; index++) {
            String port = Integer.toString(comfyPort + index);
            String name = "comfyui-gpu" + index;
            String gpu = Integer.toString(index);
            assertThat(lines).anySatisfy(line -> assertThat(line.split("\\s+")).startsWith(name, "READY").contains(port, gpu));
        }
        assertThat(lines).anySatisfy(line -> assertThat(line).startsWith("comfyui-gpu1").contains(" log: ", "logs/comfyui-gpu1/"));

        Comfyctl.Result logs = comfyctl.run("logs", "--instance", "comfyui-gpu1", "-n", "5");

        assertThat(logs.exitCode()).as(logs.err()).isZero();
        assertThat(logs.out()).contains("logs/comfyui-gpu1/");
        assertThat(comfyctl.run("logs", "--instance", "gpu1").exitCode()).isEqualTo(ExitCode.INVALID_INPUT);
    }

    @Test
    void stopWithAnInstanceStopsOnlyThatOneAndStopWithoutStopsAll() throws Exception {
        comfyctl.run("start");

        Comfyctl.Result stoppedOne = comfyctl.run("stop", "--instance", "comfyui-gpu1");

        assertThat(stoppedOne.exitCode()).as(stoppedOne.err()).isZero();
        assertThat(stoppedOne.out()).contains("comfyui-gpu1: ComfyUI stopped");
        JsonNode instances = JSON.readTree(comfyctl.run("status", "--json").out()).path("instances");
        assertThat(instances.get(0).path("state").asText()).isEqualTo("READY");
        assertThat(instances.get(1).path("state").asText()).isEqualTo("STOPPED");
        long survivor = instances.get(0).path("pid").asLong();
        assertThat(ProcessHandle.of(survivor).filter(ProcessHandle::isAlive)).isPresent();

        Comfyctl.Result stoppedAll = comfyctl.run("stop");

        assertThat(stoppedAll.exitCode()).as(stoppedAll.err()).isZero();
        assertThat(stoppedAll.out()).contains("comfyui-gpu0: ComfyUI stopped", "comfyui-gpu1: ComfyUI was not running");
        assertThat(Strays.find(fake.dir())).isEmpty();
    }

    @Test
    void anUnknownInstanceIsInvalidInputNamingTheValidOnes() {
        comfyctl.run("start");

        Comfyctl.Result restarted = comfyctl.run("restart", "--instance", "comfyui-gpu9");

        assertThat(restarted.exitCode()).isEqualTo(ExitCode.INVALID_INPUT);
        assertThat(restarted.err()).contains("no instance named 'comfyui-gpu9'", "comfyui-gpu0, comfyui-gpu1");
    }
}
