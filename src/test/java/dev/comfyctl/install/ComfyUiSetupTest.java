package dev.comfyctl.install;

import dev.comfyctl.gpu.GpuReport;
import dev.comfyctl.testing.SystemPython;
import dev.comfyctl.testing.Wheels;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@code comfyctl setup} offline: a local git repository stands in for ComfyUI, a wheel directory for the index. */
@Timeout(300)
class ComfyUiSetupTest {
    @TempDir
    Path temp;

    private Path repository;
    private Path wheels;
    private final List<ComfyUiSetup.Progress> progress = new CopyOnWriteArrayList<>();

    @BeforeEach
    void makeRepositoryAndWheels() throws Exception {
        repository = temp.resolve("ComfyUI-origin");
        Files.createDirectories(repository);
        git(repository, "init", "--quiet");
        Files.writeString(repository.resolve("main.py"), "print('ComfyUI v1')\n");
        Files.writeString(repository.resolve("requirements.txt"), "comfyfake==1.0\n");
        git(repository, "add", ".");
        git(repository, "commit", "--quiet", "-m", "v1");
        git(repository, "tag", "v1");
        Files.writeString(repository.resolve("main.py"), "print('ComfyUI v2')\n");
        git(repository, "commit", "--quiet", "-am", "v2");
        git(repository, "tag", "v2");
        wheels = temp.resolve("wheels");
        Files.createDirectories(wheels);
        for (String name : List.of("torch", "torchvision", "torchaudio")) {
            wheel(name, "2.5.0");
        }
    }

    private ComfyUiSetup setup(Optional<String> version) {
        return new ComfyUiSetup(new ComfyUiSetup.Options(temp.resolve("ComfyUI"), repository.toUri().toString(), version,
                SystemPython.path(), "file://" + wheels, List.of("--no-index", "--find-links", wheels.toString())),
                new GpuReport(List.of(), GpuReport.Source.NONE, Optional.empty()), progress::add, Wheels.isolatedEnvironment());
    }

    private List<ComfyUiSetup.Progress> ends() {
        return progress.stream().filter(ComfyUiSetup.Progress::done).toList();
    }

    @Test
    void setupClonesChecksOutCreatesTheVenvAndInstallsTorchAndRequirements() throws Exception {
        wheel("comfyfake", "1.0");

        setup(Optional.of("v1")).run();

        assertThat(ends()).extracting(ComfyUiSetup.Progress::number).containsExactly(1, 2, 3, 4, 5);
        assertThat(ends()).noneMatch(ComfyUiSetup.Progress::skipped);
        assertThat(Files.readString(temp.resolve("ComfyUI/main.py"))).contains("v1");
        assertThat(run(temp.resolve("ComfyUI/venv/bin/python").toString(), "-c", "import torch, comfyfake; print(torch.__version__)"))
                .contains("2.5.0");
    }

    @Test
    void runningSetupAgainSkipsEveryStepThatIsDone() throws Exception {
        wheel("comfyfake", "1.0");
        setup(Optional.of("v1")).run();
        progress.clear();

        setup(Optional.of("v1")).run();

        assertThat(ends()).hasSize(5).allMatch(ComfyUiSetup.Progress::skipped);
    }

    @Test
    void anInterruptedSetupResumesWhereItFailed() throws Exception {
        assertThatThrownBy(() -> setup(Optional.of("v1")).run())
                .isInstanceOfSatisfying(SetupException.class, e -> {
                    assertThat(e.getMessage()).contains("setup step 5 (requirements) failed", "run 'comfyctl setup' again");
                    assertThat(String.join("\n", e.outputTail())).contains("comfyfake");
                });
        wheel("comfyfake", "1.0");
        progress.clear();

        setup(Optional.of("v1")).run();

        assertThat(ends()).extracting(ComfyUiSetup.Progress::skipped).containsExactly(true, true, true, true, false);
    }

    @Test
    void anotherVersionIsCheckedOutOnTheNextRun() throws Exception {
        wheel("comfyfake", "1.0");
        setup(Optional.of("v1")).run();

        setup(Optional.of("v2")).run();

        assertThat(Files.readString(temp.resolve("ComfyUI/main.py"))).contains("v2");
    }

    @Test
    void anUnknownVersionIsAClearError() {
        assertThatThrownBy(() -> setup(Optional.of("v9")).run())
                .hasMessageContaining("setup step 2 (version) failed")
                .hasMessageContaining("v9 is neither a tag nor a commit");
    }

    @Test
    void aDirectoryThatIsNotAGitCheckoutIsLeftAlone() throws IOException {
        Files.createDirectories(temp.resolve("ComfyUI"));
        Files.writeString(temp.resolve("ComfyUI/notes.txt"), "mine");

        assertThatThrownBy(() -> setup(Optional.empty()).run())
                .hasMessageContaining("exists and is not a git checkout");
        assertThat(temp.resolve("ComfyUI/notes.txt")).hasContent("mine");
    }

    @Test
    void thePyTorchBuildFollowsTheDriver() {
        assertThat(TorchIndex.forMachine(new GpuReport(List.of(), GpuReport.Source.NONE, Optional.empty()))).endsWith("/cpu");
        assertThat(TorchIndex.forMachine(new GpuReport(List.of(new dev.comfyctl.gpu.Gpu(0, "RTX 4090", 24564, 24000, "550.54.15")),
                GpuReport.Source.NVIDIA_SMI, Optional.empty()))).endsWith("/cu124");
        assertThat(TorchIndex.forMachine(new GpuReport(List.of(new dev.comfyctl.gpu.Gpu(0, "RTX 5090", 32607, 32000, "575.51.03")),
                GpuReport.Source.NVIDIA_SMI, Optional.empty()))).endsWith("/cu128");
    }

    private void wheel(String name, String version) {
        new Wheels(wheels).add(name, version);
    }

    private static void git(Path dir, String... arguments) throws Exception {
        List<String> command = new ArrayList<>(List.of("git", "-C", dir.toString(), "-c", "user.name=test", "-c", "user.email=test@example.com"));
        command.addAll(List.of(arguments));
        assertThat(run(command.toArray(String[]::new))).isNotNull();
    }

    private static String run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        process.getOutputStream().close();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).as(String.join(" ", command) + "\n" + output).isZero();
        return output;
    }
}
