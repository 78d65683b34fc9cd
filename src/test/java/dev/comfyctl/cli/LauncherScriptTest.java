package dev.comfyctl.cli;

import dev.comfyctl.testing.ComfyctlJar;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Ports;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The {@code ./comfyctl} launcher rebuilds its jar when the sources are newer, but never under a comfyctl process
 * running from that jar: a JVM loads classes from its jar as it goes, so rewriting it breaks the daemon later.
 * Runs a copy of the launcher in a project directory of its own, with a PATH that has no Maven: a rebuild the
 * launcher should not attempt fails the test at once.
 */
@Timeout(180)
class LauncherScriptTest {
    @TempDir
    Path temp;

    private Path root;
    private Path jar;
    private Path home;
    private Map<String, String> environment;
    private Process serve;

    @BeforeEach
    void copyTheLauncherIntoAProjectOfItsOwn() throws IOException {
        root = temp.resolve("project");
        Files.createDirectories(root.resolve("src/main/java"));
        Files.copy(Path.of("comfyctl"), root.resolve("comfyctl"));
        assertThat(root.resolve("comfyctl").toFile().setExecutable(true)).isTrue();
        Files.writeString(root.resolve("pom.xml"), "<project/>\n");
        jar = ComfyctlJar.build(root.resolve("target/comfyctl.jar"));
        home = temp.resolve("state");
        FakeComfyUi fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        environment = Map.of(
                "PATH", toolsWithoutMaven().toString(),
                "JAVA_HOME", System.getProperty("java.home"),
                "COMFYCTL_HOME", home.toString(),
                "COMFYUI_DIR", fake.dir().toString(),
                "MANAGER_PORT", Integer.toString(Ports.free()),
                "COMFYUI_PORT", Integer.toString(Ports.free()),
                "GPU_MODE", "mock",
                "COMFYUI_AUTOSTART", "false",
                "HEALTH_PORT", "0");
    }

    @AfterEach
    void stopTheDaemon() throws InterruptedException {
        if (serve != null && serve.isAlive()) {
            serve.destroy();
            serve.waitFor(30, TimeUnit.SECONDS);
        }
    }

    /** The commands the launcher uses, and no mvn. */
    private Path toolsWithoutMaven() throws IOException {
        Path bin = Files.createDirectories(temp.resolve("bin"));
        for (String tool : List.of("bash", "dirname", "readlink", "find", "grep", "cut", "tr", "rm", "mv", "env")) {
            Path found = List.of(Path.of("/usr/bin", tool), Path.of("/bin", tool)).stream().filter(Files::isExecutable)
                    .findFirst().orElseThrow(() -> new IllegalStateException(tool + " is not in /usr/bin or /bin"));
            Files.createSymbolicLink(bin.resolve(tool), found);
        }
        return bin;
    }

    private ProcessBuilder launcher(String... args) {
        List<String> command = new java.util.ArrayList<>(List.of(root.resolve("comfyctl").toString()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).directory(temp.toFile());
        builder.environment().clear();
        builder.environment().putAll(environment);
        return builder;
    }

    private Comfyctl.Result run(String... args) throws Exception {
        Path out = temp.resolve("launcher-out.txt");
        Path err = temp.resolve("launcher-err.txt");
        Process process = launcher(args).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        assertThat(process.waitFor(120, TimeUnit.SECONDS)).as("launcher finished").isTrue();
        return new Comfyctl.Result(process.exitValue(), Files.readString(out), Files.readString(err));
    }

    private void sourcesChange() throws IOException {
        Files.setLastModifiedTime(jar, FileTime.from(Instant.now().minusSeconds(3600)));
        Files.writeString(root.resolve("src/main/java/Changed.java"), "class Changed {}\n");
    }

    private String sha256(Path file) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
    }

    @Test
    void changedSourcesAreNotRebuiltUnderADaemonRunningFromTheJarAndTheCommandUsesTheExistingBuild() throws Exception {
        serve = launcher("serve").redirectErrorStream(true).redirectOutput(temp.resolve("serve.log").toFile()).start();
        await().atMost(Duration.ofSeconds(60)).until(() -> Files.exists(home.resolve("daemon.json")));
        sourcesChange();
        String before = sha256(jar);

        Comfyctl.Result status = run("status");

        assertThat(status.err()).contains("the sources changed, but comfyctl processes run from " + jar,
                "pid " + serve.pid(), "rebuilding it would break them", "Stop them first ('./comfyctl stop'")
                .doesNotContain("building (first use");
        assertThat(status.exitCode()).as(status.err()).isZero();
        assertThat(status.out()).contains("daemon");
        assertThat(sha256(jar)).isEqualTo(before);
        assertThat(serve.isAlive()).isTrue();
    }

    @Test
    void onceNothingRunsFromTheJarChangedSourcesAreRebuilt() throws Exception {
        sourcesChange();

        Comfyctl.Result version = run("--version");

        // No Maven on this PATH: the attempt to build is the proof, and its failure is reported.
        assertThat(version.err()).contains("comfyctl: building (first use, or the sources changed)");
        assertThat(version.exitCode()).isNotZero();
    }
}
