package dev.comfyctl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.process.PortOwner;
import dev.comfyctl.supervisor.Strays;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Ports;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** comfyctl start, status, logs, stop as real processes against the fake ComfyUI (BUS-SERVER-MGMT-nnn: seed 000). */
class LifecycleCommandsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path temp;

    private FakeComfyUi fake;
    private Comfyctl comfyctl;
    private int managerPort;
    private int comfyPort;

    @BeforeEach
    void setUp() {
        fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        managerPort = Ports.free();
        comfyPort = Ports.free();
        comfyctl = new Comfyctl(temp, Map.of(
                "COMFYCTL_HOME", temp.resolve("state").toString(),
                "COMFYUI_DIR", fake.dir().toString(),
                "MANAGER_PORT", Integer.toString(managerPort),
                "COMFYUI_PORT", Integer.toString(comfyPort),
                "GPU_MODE", "mock",
                "GPU_MOCK_NAME", "NVIDIA GeForce RTX 4090",
                "GPU_MOCK_VRAM_MB", "24564",
                "COMFYUI_STOP_GRACE_SECONDS", "2"));
    }

    @AfterEach
    void stopEverything() {
        comfyctl.run("stop");
    }

    @Test
    void bus001And011StartAndStopAreOneCommandEachAndLeaveNothingBehind() throws Exception {
        Comfyctl.Result started = comfyctl.run("start");

        assertThat(started.exitCode()).as(started.err()).isZero();
        assertThat(started.out()).contains("[1/8] preflight", "[3/8] GPU detection", "NVIDIA GeForce RTX 4090",
                "[5/8] models", "[6/8] session log", "ComfyUI is ready");
        JsonNode status = JSON.readTree(comfyctl.run("status", "--json").out());
        long daemonPid = status.path("daemon").path("pid").asLong();
        long comfyPid = status.path("instances").get(0).path("pid").asLong();
        assertThat(status.path("instances").get(0).path("state").asText()).isEqualTo("READY");

        Comfyctl.Result stopped = comfyctl.run("stop");

        assertThat(stopped.exitCode()).as(stopped.err()).isZero();
        assertThat(stopped.out()).contains("ComfyUI stopped", "comfyctl daemon (pid " + daemonPid + ") stopped");
        assertThat(ProcessHandle.of(comfyPid).filter(ProcessHandle::isAlive)).isEmpty();
        // The background daemon's parent is gone, so init reaps it: give init a moment.
        await().atMost(Duration.ofSeconds(10)).until(() -> ProcessHandle.of(daemonPid).filter(ProcessHandle::isAlive).isEmpty());
        assertThat(PortOwner.isFree("127.0.0.1", comfyPort)).isTrue();
        assertThat(PortOwner.isFree("127.0.0.1", managerPort)).isTrue();
        assertThat(Strays.find(fake.dir())).isEmpty();
    }

    @Test
    void statusShowsStatePidPortHealthGpuQueueAndLog() {
        comfyctl.run("start");

        Comfyctl.Result status = comfyctl.run("status");

        assertThat(status.exitCode()).isZero();
        assertThat(status.out()).contains("READY", "pid ", "port " + comfyPort, "healthy", "queue:", "0 running",
                "NVIDIA GeForce RTX 4090", "log:");
    }

    @Test
    void statusWhenNothingRunsExitsThreeAndSaysSo() throws Exception {
        Comfyctl.Result status = comfyctl.run("status", "--json");

        assertThat(status.exitCode()).isEqualTo(3);
        assertThat(JSON.readTree(status.out()).path("daemon").isNull()).isTrue();
        assertThat(status.err()).contains("not running");
    }

    @Test
    void bus017StopWhenNothingRunsIsNotAnError() {
        Comfyctl.Result stopped = comfyctl.run("stop");

        assertThat(stopped.exitCode()).isZero();
        assertThat(stopped.out()).contains("nothing running");
    }

    @Test
    void stopWithoutADaemonStillStopsAStrayComfyUi() {
        var stray = fake.launch(comfyPort);

        Comfyctl.Result stopped = comfyctl.run("stop");

        assertThat(stopped.exitCode()).isZero();
        assertThat(stopped.out()).contains("stray ComfyUI pid " + stray.pid());
        assertThat(stray.process().isAlive()).isFalse();
    }

    @Test
    void bus016AMissingComfyUiDirectoryIsAOneLineErrorAndNonZeroExitAndNoDaemonIsLeft() {
        Comfyctl.Result started = comfyctl.with("COMFYUI_DIR", temp.resolve("nowhere").toString()).run("start");

        assertThat(started.exitCode()).isEqualTo(1);
        assertThat(started.err()).contains("comfyctl: error: step 1 (preflight) failed", "nowhere does not exist");
        assertThat(PortOwner.isFree("127.0.0.1", managerPort)).isTrue();
    }

    @Test
    void anInvalidConfigValueExitsTwoNamingTheKey() {
        Comfyctl.Result started = comfyctl.with("COMFYUI_PORT", "eighty").run("start");

        assertThat(started.exitCode()).isEqualTo(2);
        assertThat(started.err()).contains("COMFYUI_PORT='eighty'");
    }

    @Test
    void logsPrintTheCurrentSessionLog() {
        comfyctl.run("start");

        Comfyctl.Result logs = comfyctl.run("logs", "-n", "5");

        assertThat(logs.exitCode()).isZero();
        assertThat(logs.out()).contains("To see the GUI go to");
    }

    @Test
    void restartStartsANewComfyUiProcess() throws Exception {
        comfyctl.run("start");
        long before = JSON.readTree(comfyctl.run("status", "--json").out()).path("instances").get(0).path("pid").asLong();

        Comfyctl.Result restarted = comfyctl.run("restart");

        assertThat(restarted.exitCode()).as(restarted.err()).isZero();
        long after = JSON.readTree(comfyctl.run("status", "--json").out()).path("instances").get(0).path("pid").asLong();
        assertThat(after).isNotEqualTo(before);
        assertThat(ProcessHandle.of(before).filter(ProcessHandle::isAlive)).isEmpty();
    }

    @Test
    void serveStopsComfyUiAndItselfOnSigterm() throws Exception {
        Process serve = comfyctl.spawn("serve");
        await().atMost(Duration.ofSeconds(60)).until(() -> Files.exists(temp.resolve("state/comfyui.pid")));
        long comfyPid = Long.parseLong(Files.readString(temp.resolve("state/comfyui.pid")).strip());

        serve.toHandle().destroy();

        assertThat(serve.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        assertThat(ProcessHandle.of(comfyPid).filter(ProcessHandle::isAlive)).isEmpty();
        assertThat(PortOwner.isFree("127.0.0.1", managerPort)).isTrue();
        assertThat(temp.resolve("state/daemon.json")).doesNotExist();
    }

    @Test
    void stopUnderServeStopsOnlyComfyUiAndTheDaemonKeepsServing() throws Exception {
        Process serve = comfyctl.spawn("serve");
        try {
            await().atMost(Duration.ofSeconds(60)).until(() -> Files.exists(temp.resolve("state/comfyui.pid")));

            Comfyctl.Result stopped = comfyctl.run("stop");

            assertThat(stopped.exitCode()).isZero();
            assertThat(serve.isAlive()).isTrue();
            JsonNode status = JSON.readTree(comfyctl.run("status", "--json").out());
            assertThat(status.path("instances").get(0).path("state").asText()).isEqualTo("STOPPED");
        } finally {
            serve.toHandle().destroy();
            serve.waitFor(30, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    @Test
    void theCliSendsTheTokenAndAWrongOneIsAClearError() {
        comfyctl.with("MANAGER_TOKEN", "right-token");
        assertThat(comfyctl.run("start").exitCode()).isZero();

        Comfyctl.Result right = comfyctl.run("status");
        Comfyctl.Result wrong = comfyctl.with("MANAGER_TOKEN", "wrong-token").run("status");

        assertThat(right.exitCode()).isZero();
        assertThat(wrong.exitCode()).isEqualTo(1);
        assertThat(wrong.err()).contains("refused the token", "MANAGER_TOKEN");
        comfyctl.with("MANAGER_TOKEN", "right-token");
    }

    @Test
    void scheduleCommandsShowForceAndToggleRestartsAndListTheirEvents() {
        comfyctl.run("start");

        Comfyctl.Result status = comfyctl.run("schedule", "status");
        Comfyctl.Result forced = comfyctl.run("schedule", "force-restart", "--wait-for-queue");
        Comfyctl.Result logs = comfyctl.run("schedule", "logs");
        Comfyctl.Result disabled = comfyctl.run("schedule", "disable");

        assertThat(status.exitCode()).as(status.err()).isZero();
        assertThat(status.out()).contains("scheduling:", "on, every 6h 0m", "next:", "system:", "memory", "disk");
        assertThat(forced.exitCode()).as(forced.err()).isZero();
        assertThat(forced.out()).contains("forced restart done", "queue was empty");
        assertThat(logs.out()).contains("scheduled_restart");
        assertThat(disabled.out()).contains("scheduling:  off");
    }

    @Test
    void stopEndsADaemonThatIsAliveButDoesNotAnswer() throws Exception {
        Process silent = new ProcessBuilder("sleep", "300").start();
        try (java.net.ServerSocket deaf = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            Files.createDirectories(temp.resolve("state"));
            Files.writeString(temp.resolve("state/daemon.json"), "{\"pid\": " + silent.pid() + ", \"host\": \"127.0.0.1\", \"port\": "
                    + deaf.getLocalPort() + ", \"background\": true, \"startedAt\": \"2026-01-01T00:00:00Z\", \"version\": \"old\"}");
            deaf.close();

            Comfyctl.Result stopped = comfyctl.run("stop");

            assertThat(stopped.exitCode()).as(stopped.err()).isZero();
            assertThat(stopped.err()).contains("cannot reach the comfyctl daemon", "ending it with SIGTERM");
            assertThat(silent.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        } finally {
            silent.destroyForcibly();
        }
    }

    @Test
    void scheduleWithoutADaemonSaysHowToStartOne() {
        Comfyctl.Result status = comfyctl.run("schedule", "status");

        assertThat(status.exitCode()).isEqualTo(3);
        assertThat(status.err()).contains("not running", "comfyctl start");
    }

    @Test
    void aSecondDaemonForTheSameStateDirectoryIsRefused() throws Exception {
        comfyctl.run("start");

        Comfyctl.Result second = comfyctl.with("MANAGER_PORT", Integer.toString(Ports.free())).run("serve");

        assertThat(second.exitCode()).isEqualTo(1);
        assertThat(second.err()).contains("another comfyctl daemon");
    }
}
