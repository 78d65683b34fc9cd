package dev.comfyctl.cli;

import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Http;
import dev.comfyctl.testing.Ports;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** comfyctl logs -f as a real process: it follows new lines and restarts, and a signal ends it cleanly. */
@Timeout(180)
class LogsFollowTest {
    @TempDir
    Path temp;

    private Comfyctl comfyctl;
    /** The follower writes to files of its own, apart from the commands run meanwhile. */
    private Path followerDir;
    private Map<String, String> environment;
    private int comfyPort;
    private Process follower;

    @BeforeEach
    void startComfyUi() throws IOException {
        FakeComfyUi fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        comfyPort = Ports.free();
        followerDir = temp.resolve("follower");
        environment = Map.of(
                "COMFYCTL_HOME", temp.resolve("state").toString(),
                "COMFYUI_DIR", fake.dir().toString(),
                "MANAGER_PORT", Integer.toString(Ports.free()),
                "COMFYUI_PORT", Integer.toString(comfyPort),
                "GPU_MODE", "mock",
                "COMFYUI_STOP_GRACE_SECONDS", "2");
        comfyctl = new Comfyctl(temp, environment);
        Comfyctl.Result started = comfyctl.run("start");
        assertThat(started.exitCode()).as(started.err()).isZero();
    }

    @AfterEach
    void stopEverything() {
        if (follower != null) {
            follower.destroyForcibly();
        }
        comfyctl.run("stop");
    }

    private String followed() throws IOException {
        return Files.readString(followerDir.resolve("out.txt"));
    }

    private void followFromTheCurrentLog() throws IOException {
        Files.createDirectories(followerDir);
        follower = new Comfyctl(followerDir, environment).spawn("logs", "-f", "-n", "3");
        await().atMost(Duration.ofSeconds(30)).until(() -> followed().contains("To see the GUI go to"));
    }

    @Test
    void followPrintsNewLinesAndFollowsIntoTheNextSessionLogAfterARestart() throws Exception {
        followFromTheCurrentLog();

        Http.postJson(URI.create("http://127.0.0.1:" + comfyPort + "/free"), "{\"unload_models\": true}");
        await().atMost(Duration.ofSeconds(30)).until(() -> followed().contains("fake: POST /free"));
        assertThat(comfyctl.run("restart").exitCode()).isZero();

        await().atMost(Duration.ofSeconds(30)).until(() -> followed().split("==> ").length == 3
                && followed().lastIndexOf("To see the GUI go to") > followed().lastIndexOf("==> "));
        assertThat(follower.isAlive()).isTrue();
    }

    @Test
    void sigintEndsTheFollowCleanly() throws Exception {
        followFromTheCurrentLog();
        Assumptions.assumeFalse(ignoresSigint(follower.pid()), "this test runs with SIGINT ignored (a background job"
                + " of a shell without job control), which its processes inherit; run it in the foreground");

        new ProcessBuilder("kill", "-INT", Long.toString(follower.pid())).start().waitFor(10, TimeUnit.SECONDS);

        assertThat(follower.waitFor(10, TimeUnit.SECONDS)).as("logs -f ended").isTrue();
        assertThat(follower.exitValue()).isEqualTo(130);
        assertThat(Files.readString(followerDir.resolve("err.txt"))).isEmpty();
    }

    /** Bit 2 of SigIgn in /proc/PID/status: a process that inherited an ignored SIGINT cannot be ended by it. */
    private static boolean ignoresSigint(long pid) throws IOException {
        return Files.readAllLines(Path.of("/proc", Long.toString(pid), "status")).stream()
                .filter(line -> line.startsWith("SigIgn:"))
                .anyMatch(line -> (Long.parseUnsignedLong(line.substring(7).strip(), 16) & 0x2) != 0);
    }

    @Test
    void sigtermEndsTheFollowCleanly() throws Exception {
        followFromTheCurrentLog();

        follower.destroy();

        assertThat(follower.waitFor(10, TimeUnit.SECONDS)).as("logs -f ended").isTrue();
        assertThat(follower.exitValue()).isEqualTo(143);
        assertThat(Files.readString(followerDir.resolve("err.txt"))).isEmpty();
    }
}
