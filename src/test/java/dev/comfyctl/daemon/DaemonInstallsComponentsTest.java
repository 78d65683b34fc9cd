package dev.comfyctl.daemon;

import dev.comfyctl.config.Config;
import dev.comfyctl.supervisor.InstanceState;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.TestConfigs;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** With COMPONENT_MANIFEST set, the daemon installs the custom nodes before any ComfyUI instance exists. */
@Timeout(120)
class DaemonInstallsComponentsTest {
    @TempDir
    Path temp;

    private FakeComfyUi fake;
    private Path manifest;

    @BeforeEach
    void makeNodesAndManifest() throws Exception {
        fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        Path marker = temp.resolve("installed-by.txt");
        Path good = repository("Good", "open(r'" + marker + "', 'a').write('Good\\n')\n");
        Path bad = repository("Bad", "raise SystemExit('this node cannot install here')\n");
        manifest = temp.resolve("components.yaml");
        Files.writeString(manifest, """
                custom_nodes:
                  - {name: Good, url: "%s", ref: v1, install_order: 1}
                  - {name: Bad, url: "%s", ref: v1, install_order: 2}
                """.formatted(good.toUri(), bad.toUri()));
    }

    private Path repository(String name, String installScript) throws Exception {
        Path dir = temp.resolve("origins").resolve(name);
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("install.py"), installScript);
        git(dir, "init", "--quiet");
        git(dir, "add", ".");
        git(dir, "commit", "--quiet", "-m", "first");
        git(dir, "tag", "v1");
        return dir;
    }

    private static void git(Path dir, String... arguments) throws Exception {
        List<String> command = new ArrayList<>(List.of("git", "-C", dir.toString(), "-c", "user.name=test", "-c",
                "user.email=test@example.com"));
        command.addAll(List.of(arguments));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).as(new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8)).isZero();
    }

    @Test
    void theDaemonInstallsTheManifestBeforeItsInstanceStartsAndGoesOnPastAFailingNode() throws Exception {
        Config config = TestConfigs.forFake(fake, temp.resolve("state"), "COMPONENT_MANIFEST", manifest.toString());

        try (Daemon daemon = Daemon.start(config, false)) {
            assertThat(daemon.instance().snapshot().state()).isEqualTo(InstanceState.STOPPED);
            assertThat(temp.resolve("installed-by.txt")).hasContent("Good");
            assertThat(fake.dir().resolve("custom_nodes/Good/.git")).isDirectory();
        }
        String events = Files.readString(temp.resolve("state/events.jsonl"));
        assertThat(events).contains("\"type\":\"component_install\"", "custom node Good: installed at v1",
                "custom node Bad: install.py exited with status 1", "custom nodes: 1 installed, 0 up to date; 1 failed: custom node Bad");
        assertThat(events).containsPattern("\\(Component manifest\\) done in \\d+ ms: 2 custom nodes, 0 models")
                .containsPattern("\\(Custom nodes\\) failed after \\d+ ms: custom nodes: 1 installed")
                .containsPattern("\\(Models\\) done in \\d+ ms: nothing to install");
    }

    @Test
    void withoutAManifestOrAnApiThereAreNoComponentSteps() throws Exception {
        Config config = TestConfigs.forFake(fake, temp.resolve("state"));

        try (Daemon daemon = Daemon.start(config, false)) {
            assertThat(fake.dir().resolve("custom_nodes")).isEmptyDirectory();
        }
        assertThat(Files.readString(temp.resolve("state/events.jsonl"))).contains("(Instance plan) done")
                .doesNotContain("component_install", "(Custom nodes)", "(Component manifest)");
    }

    @Test
    void withCustomNodeFailureStopTheDaemonDoesNotStart() {
        Config config = TestConfigs.forFake(fake, temp.resolve("state"), "COMPONENT_MANIFEST", manifest.toString(),
                "CUSTOM_NODE_FAILURE", "stop");

        assertThatThrownBy(() -> Daemon.start(config, false)).isInstanceOf(DaemonException.class)
                .hasMessageContaining("1 failed: custom node Bad")
                .hasMessageContaining("set CUSTOM_NODE_FAILURE=continue to start without it");
    }
}
