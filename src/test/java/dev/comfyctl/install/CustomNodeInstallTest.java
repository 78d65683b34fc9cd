package dev.comfyctl.install;

import dev.comfyctl.comfy.ComfyPython;
import dev.comfyctl.config.Config;
import dev.comfyctl.config.ConfigLoader;
import dev.comfyctl.process.CommandRunner;
import dev.comfyctl.testing.SystemPython;
import dev.comfyctl.testing.Wheels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Custom nodes from local git repositories (file URLs), their requirements installed offline into a real
 * virtual environment, their install.py run, in install order.
 */
@Timeout(300)
class CustomNodeInstallTest {
    @TempDir
    static Path shared;
    @TempDir
    Path temp;

    private static Path venvPython;
    private static Path wheels;

    private Path comfyDir;
    private Path order;
    private Path gitLog;
    private Path pythonLog;
    private Path python;
    private Map<String, String> environment;
    private final RecordingListener listener = new RecordingListener();

    @BeforeAll
    static void createVenvAndWheels() throws Exception {
        wheels = shared.resolve("wheels");
        new Wheels(wheels).add("tinynodedep", "1.0");
        LocalTools.run(SystemPython.path().toString(), "-m", "venv", shared.resolve("venv").toString());
        venvPython = shared.resolve("venv/bin/python");
    }

    /** git and ComfyUI's python run through wrappers that log each call, so a test can prove what did not run. */
    @BeforeEach
    void wrapGitAndPython() throws Exception {
        comfyDir = temp.resolve("ComfyUI");
        Files.createDirectories(comfyDir);
        order = temp.resolve("order.txt");
        gitLog = temp.resolve("git.log");
        pythonLog = temp.resolve("python.log");
        Path realGit = CommandRunner.findOnPath("git", System.getenv("PATH")).orElseThrow();
        LocalTools.loggingWrapper(temp.resolve("bin/git"), gitLog, realGit);
        python = LocalTools.loggingWrapper(temp.resolve("python-wrapper"), pythonLog, venvPython);
        environment = Wheels.isolatedEnvironment();
        environment.put("PATH", temp.resolve("bin") + ":" + System.getenv("PATH"));
    }

    private ComponentInstaller installer(boolean stopOnFailure) {
        return new ComponentInstaller(new ComponentInstaller.Options(comfyDir, comfyDir.resolve("models"), new ComfyPython(comfyDir, Optional.of(python)),
                List.of("--no-index", "--find-links", wheels.toString()), stopOnFailure, 2, 0, Duration.ofMillis(10), false),
                listener, environment);
    }

    private InstallReport install(boolean stopOnFailure, CustomNode... nodes) {
        return installer(stopOnFailure).install(new Manifest(List.of(nodes), List.of()));
    }

    /** A node whose install.py appends its name to order.txt. */
    private CustomNode node(String name, OptionalInt installOrder, Map<String, String> extraFiles) throws Exception {
        Map<String, String> files = new HashMap<>(extraFiles);
        files.putIfAbsent("install.py", "open(r'" + order + "', 'a').write('" + name + "\\n')\n");
        files.putIfAbsent("__init__.py", "NODE_CLASS_MAPPINGS = {}\n");
        Path repository = LocalTools.repository(temp.resolve("origins").resolve(name), files);
        return new CustomNode(name, repository.toUri().toString(), Optional.of("v1"), installOrder, true);
    }

    private CustomNode node(String name, int installOrder) throws Exception {
        return node(name, OptionalInt.of(installOrder), Map.of());
    }

    private CustomNode unordered(String name) throws Exception {
        return node(name, OptionalInt.empty(), Map.of());
    }

    @Test
    void nodesInstallByInstallOrderThenTheUnorderedOnesByName() throws Exception {
        InstallReport report = install(false, unordered("Zeta"), node("Second", 20), unordered("Alpha"), node("First", 10));

        assertThat(report.succeeded()).isTrue();
        assertThat(Files.readAllLines(order)).containsExactly("First", "Second", "Alpha", "Zeta");
        assertThat(report.nodesInstalled()).isEqualTo(4);
    }

    @Test
    void aNodeIsClonedAtItsRefAndItsRequirementsGoIntoComfyUisPython() throws Exception {
        CustomNode node = node("WithDeps", OptionalInt.empty(), Map.of("requirements.txt", "tinynodedep==1.0\n",
                "version.txt", "one\n"));
        Path origin = Path.of(URI.create(node.url()));
        LocalTools.commit(origin, Map.of("version.txt", "two\n"), "v2");

        InstallReport report = install(false, node);

        assertThat(report.succeeded()).as(listener.calls.toString()).isTrue();
        Path dir = comfyDir.resolve("custom_nodes/WithDeps");
        assertThat(dir.resolve("version.txt")).hasContent("one");
        assertThat(LocalTools.run(venvPython.toString(), "-c", "import tinynodedep; print(tinynodedep.__version__)")).contains("1.0");
        assertThat(Files.readString(pythonLog)).contains("-m pip --disable-pip-version-check install -r " + dir.resolve("requirements.txt"));
    }

    @Test
    void aComfyuiPythonThatIsNotThereFailsTheNodeNamingTheSetting() throws Exception {
        Path missing = temp.resolve("nowhere/bin/python");
        Config config = ConfigLoader.load(Map.of("COMFYCTL_HOME", temp.resolve("home").toString(),
                "COMFYUI_DIR", comfyDir.toString(), "COMFYUI_PYTHON", missing.toString()), Map.of()).config();

        InstallReport report = Components.installer(config, false, listener, environment)
                .install(new Manifest(List.of(node("NeedsPython", OptionalInt.empty(), Map.of())), List.of()));

        assertThat(report.succeeded()).isFalse();
        assertThat(listener.starting("nodeFailed")).singleElement().asString()
                .contains("NeedsPython needs ComfyUI's python", "COMFYUI_PYTHON is " + missing + " but no executable python is there");
    }

    @Test
    void installingAgainSkipsEveryNodeWithoutRunningGitFetchPipOrInstallPy() throws Exception {
        CustomNode[] nodes = {node("First", 1), node("Deps", OptionalInt.empty(), Map.of("requirements.txt", "tinynodedep==1.0\n"))};
        assertThat(install(false, nodes).succeeded()).isTrue();
        Files.delete(gitLog);
        Files.delete(pythonLog);
        listener.calls.clear();

        InstallReport again = install(false, nodes);

        assertThat(again.nodesSkipped()).isEqualTo(2);
        assertThat(again.nodesInstalled()).isZero();
        assertThat(listener.starting("nodeSkipped")).hasSize(2).allMatch(call -> call.contains("already at v1"));
        assertThat(pythonLog).doesNotExist();
        assertThat(Files.readAllLines(gitLog)).isNotEmpty().allMatch(call -> call.contains(" rev-parse --verify --quiet "));
        assertThat(Files.readAllLines(order)).containsExactly("First", "Deps");
    }

    @Test
    void aNewRefIsCheckedOutAndOneUnknownLocallyIsFetched() throws Exception {
        CustomNode node = node("Moving", OptionalInt.empty(), Map.of("version.txt", "one\n"));
        install(false, node);
        Path origin = Path.of(URI.create(node.url()));
        LocalTools.commit(origin, Map.of("version.txt", "two\n"), "v2");
        Files.delete(gitLog);

        InstallReport report = install(false, new CustomNode("Moving", node.url(), Optional.of("v2"), OptionalInt.empty(), true));

        assertThat(report.nodesInstalled()).isEqualTo(1);
        assertThat(comfyDir.resolve("custom_nodes/Moving/version.txt")).hasContent("two");
        assertThat(Files.readString(gitLog)).contains("fetch --quiet --tags origin");
        assertThat(Files.readAllLines(order)).containsExactly("Moving", "Moving");
    }

    @Test
    void aFailingNodeIsReportedWithItsOutputAndTheOthersStillInstall() throws Exception {
        CustomNode broken = node("Broken", OptionalInt.of(1), Map.of("install.py", "import sys\nprint('boom: no CUDA here')\nsys.exit(3)\n"));

        InstallReport report = install(false, broken, node("Fine", 2), unordered("AlsoFine"));

        assertThat(report.succeeded()).isFalse();
        assertThat(report.failures()).singleElement().satisfies(failure -> {
            assertThat(failure.name()).isEqualTo("Broken");
            assertThat(failure.error()).contains("install.py exited with status 3");
        });
        assertThat(listener.failureTails).singleElement().asList().contains("boom: no CUDA here");
        assertThat(report.summary()).contains("2 installed", "1 failed: custom node Broken");
        assertThat(Files.readAllLines(order)).containsExactly("Fine", "AlsoFine");
    }

    @Test
    void stopOnFailureLeavesTheNodesAfterTheFailingOneAlone() throws Exception {
        CustomNode broken = node("Broken", OptionalInt.of(1), Map.of("install.py", "raise SystemExit('no')\n"));

        InstallReport report = install(true, broken, node("Later", 2));

        assertThat(report.failures()).extracting(InstallReport.Failure::name).containsExactly("Broken");
        assertThat(comfyDir.resolve("custom_nodes/Later")).doesNotExist();
        assertThat(order).doesNotExist();
    }

    @Test
    void aFailedNodeIsRetriedOnTheNextRun() throws Exception {
        CustomNode node = node("NeedsDep", OptionalInt.empty(), Map.of("requirements.txt", "missingdep==2.0\n"));
        assertThat(install(false, node).failures()).singleElement()
                .satisfies(failure -> assertThat(failure.error()).contains("pip install -r", "exited with status"));
        new Wheels(wheels).add("missingdep", "2.0");

        InstallReport again = install(false, node);

        assertThat(again.succeeded()).isTrue();
        assertThat(again.nodesInstalled()).isEqualTo(1);
    }

    @Test
    void anUnknownRefIsAClearFailure() throws Exception {
        CustomNode node = node("Typo", OptionalInt.empty(), Map.of());

        InstallReport report = install(false, new CustomNode("Typo", node.url(), Optional.of("v9"), OptionalInt.empty(), true));

        assertThat(report.failures()).singleElement().satisfies(failure -> assertThat(failure.error())
                .contains("v9 is neither a branch, a tag nor a commit of " + node.url(), "fix its 'ref'"));
    }

    @Test
    void aDirectoryThatIsNotACheckoutIsLeftAlone() throws Exception {
        CustomNode node = unordered("Mine");
        Files.createDirectories(comfyDir.resolve("custom_nodes/Mine"));
        Files.writeString(comfyDir.resolve("custom_nodes/Mine/notes.txt"), "mine");

        InstallReport report = install(false, node);

        assertThat(report.failures()).singleElement().satisfies(failure -> assertThat(failure.error())
                .contains("exists and is not a git checkout"));
        assertThat(comfyDir.resolve("custom_nodes/Mine/notes.txt")).hasContent("mine");
    }

    @Test
    void aDryRunChangesNothing() throws Exception {
        CustomNode node = unordered("Planned");

        InstallReport report = new ComponentInstaller(new ComponentInstaller.Options(comfyDir, comfyDir.resolve("models"),
                new ComfyPython(comfyDir, Optional.of(python)), List.of(), false, 1, 0, Duration.ofMillis(10), true), listener, environment)
                .install(new Manifest(List.of(node), List.of()));

        assertThat(report.planned()).isEqualTo(1);
        assertThat(listener.calls).containsExactly("nodePlanned Planned: clone " + node.url() + " at v1 into "
                + comfyDir.resolve("custom_nodes/Planned"));
        assertThat(comfyDir.resolve("custom_nodes")).doesNotExist();
    }

    @Test
    void anOfflineMachineWithEverythingInstalledInstallsNothingAndSucceeds() throws Exception {
        CustomNode node = node("Offline", OptionalInt.of(1), Map.of("requirements.txt", "tinynodedep==1.0\n"));
        byte[] content = "model bytes".repeat(1000).getBytes(StandardCharsets.UTF_8);
        Manifest manifest;
        try (ModelServer server = new ModelServer()) {
            server.serve("/m.safetensors", content);
            manifest = new Manifest(List.of(node), List.of(new ModelFile(server.url("/m.safetensors"), "checkpoints",
                    "m.safetensors", Optional.of(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(content))), OptionalLong.empty())));
            assertThat(installer(false).install(manifest).succeeded()).isTrue();
        }
        deleteTree(Path.of(URI.create(node.url())));
        Files.delete(pythonLog);

        InstallReport offline = installer(false).install(manifest);

        assertThat(offline.succeeded()).as(offline.summary()).isTrue();
        assertThat(offline.summary()).isEqualTo("custom nodes: 0 installed, 1 up to date; models: 0 downloaded, 1 present");
        assertThat(pythonLog).doesNotExist();
    }


    private static void deleteTree(Path dir) throws Exception {
        try (var walk = Files.walk(dir)) {
            for (Path each : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(each);
            }
        }
    }
}
