package dev.comfyctl.process;

import static dev.comfyctl.process.Spawn.PATIENCE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StrayProcessesTest {

    private static final String FAKE_COMFY = "import time\nprint('fake ComfyUI', flush=True)\ntime.sleep(60)\n";

    @TempDir
    Path dir;
    private Spawn spawn;
    private Path comfy;

    @BeforeEach
    void setUp() throws IOException {
        spawn = new Spawn(dir);
        comfy = Files.createDirectory(dir.resolve("ComfyUI"));
        Files.writeString(comfy.resolve("main.py"), FAKE_COMFY);
    }

    @AfterEach
    void tearDown() {
        spawn.close();
    }

    @Test
    void findsComfyStartedWithAnAbsolutePath() {
        RunningProcess comfyUi = spawn.launch(List.of("python3", comfy.resolve("main.py").toString(), "--port", "0"), dir);
        Spawn.firstLine(comfyUi);

        List<ProcessInfo> found = StrayProcesses.find(comfy);

        assertThat(found).extracting(ProcessInfo::pid).containsExactly(comfyUi.pid());
        assertThat(found.get(0).commandLine()).matches(".*python3 " + comfy.resolve("main.py") + " --port 0");
        assertThat(found.get(0).started()).isPresent();
    }

    @Test
    void findsComfyStartedWithMainPyRelativeToItsWorkingDirectory() {
        RunningProcess comfyUi = spawn.launch(List.of("python3", "-u", "main.py"), comfy);
        Spawn.firstLine(comfyUi);

        assertThat(StrayProcesses.find(comfy)).extracting(ProcessInfo::pid).containsExactly(comfyUi.pid());
    }

    @Test
    void findsComfyThroughASymlinkedDirectory() throws IOException {
        Path link = Files.createSymbolicLink(dir.resolve("comfy-link"), comfy);
        RunningProcess viaLink = spawn.launch(List.of("python3", link.resolve("main.py").toString()), dir);
        Spawn.firstLine(viaLink);

        assertThat(StrayProcesses.find(comfy)).extracting(ProcessInfo::pid).containsExactly(viaLink.pid());
        assertThat(StrayProcesses.find(link)).extracting(ProcessInfo::pid).containsExactly(viaLink.pid());
    }

    @Test
    void ignoresOtherComfyDirectoriesAndNonPythonPrograms() throws IOException {
        Path other = Files.createDirectory(dir.resolve("OtherComfyUI"));
        Files.writeString(other.resolve("main.py"), FAKE_COMFY);
        Spawn.firstLine(spawn.launch(List.of("python3", "main.py"), other));
        RunningProcess notPython = spawn.launch(List.of("sh", "-c", "echo ready; exec sleep 60", comfy.resolve("main.py").toString()), comfy);
        Spawn.firstLine(notPython);

        assertThat(StrayProcesses.find(comfy)).isEmpty();
    }

    @Test
    void findsNothingOnceComfyIsStopped() {
        RunningProcess comfyUi = spawn.launch(List.of("python3", "main.py"), comfy);
        Spawn.firstLine(comfyUi);

        comfyUi.stop(PATIENCE);

        await().atMost(PATIENCE).until(() -> StrayProcesses.find(comfy).isEmpty());
    }

    @Test
    void directoryWithoutMainPyHasNoStrays() {
        assertThat(StrayProcesses.find(dir.resolve("missing"))).isEmpty();
    }
}
