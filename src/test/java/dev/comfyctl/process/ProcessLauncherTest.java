package dev.comfyctl.process;

import static dev.comfyctl.process.Spawn.PATIENCE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcessLauncherTest {

    private static final String PRINT_IDS = "import os, time; print(os.getpid(), os.getpgrp(), os.getsid(0), flush=True); time.sleep(60)";

    @TempDir
    Path dir;
    private Spawn spawn;

    @BeforeEach
    void setUp() {
        spawn = new Spawn(dir);
    }

    @AfterEach
    void tearDown() {
        spawn.close();
    }

    @Test
    void launchedProcessKeepsItsPidAndLeadsItsOwnSessionAndGroup() {
        assertThat(new ProcessLauncher().startsNewSession()).as("setsid installed on this machine").isTrue();
        RunningProcess python = spawn.python(PRINT_IDS);

        long pid = python.pid();
        assertThat(Spawn.firstLine(python)).isEqualTo(pid + " " + pid + " " + pid);
        assertThat(ProcStat.read(pid).orElseThrow().ppid()).isEqualTo(ProcessHandle.current().pid());
    }

    @Test
    void withoutSetsidTheProcessStaysInThisSessionAndIsStillStoppable() throws Exception {
        try (Spawn plain = new Spawn(dir, new ProcessLauncher(Optional.empty()))) {
            RunningProcess python = plain.python(PRINT_IDS);

            ProcStat self = ProcStat.read(ProcessHandle.current().pid()).orElseThrow();
            assertThat(Spawn.firstLine(python)).isEqualTo(python.pid() + " " + self.processGroup() + " " + self.session());
            StopResult result = python.stop(PATIENCE);
            assertThat(result.signalled()).containsExactly(python.pid());
            assertThat(python.onExit().get(10, TimeUnit.SECONDS)).isEqualTo(143);
        }
    }

    @Test
    void stdoutAndStderrAreAppendedToTheLogFile() throws Exception {
        Path logFile = dir.resolve("logs/session.log");
        Files.createDirectories(logFile.getParent());
        Files.writeString(logFile, "earlier session\n");

        RunningProcess sh = new ProcessLauncher().launch(new LaunchSpec(
                List.of("sh", "-c", "echo to stdout; echo to stderr >&2"), dir, Map.of(), logFile));

        assertThat(sh.onExit().get(10, TimeUnit.SECONDS)).isZero();
        assertThat(Files.readAllLines(logFile)).containsExactly("earlier session", "to stdout", "to stderr");
    }

    @Test
    void logDirectoryIsCreatedWhenMissing() throws Exception {
        Path logFile = dir.resolve("new/dir/out.log");
        RunningProcess sh = new ProcessLauncher().launch(new LaunchSpec(List.of("sh", "-c", "echo hi"), dir, Map.of(), logFile));

        assertThat(sh.onExit().get(10, TimeUnit.SECONDS)).isZero();
        assertThat(Files.readString(logFile)).isEqualTo("hi\n");
    }

    @Test
    void environmentIsAddedToTheInheritedOne() throws Exception {
        Path logFile = dir.resolve("env.log");
        RunningProcess sh = new ProcessLauncher().launch(new LaunchSpec(
                List.of("sh", "-c", "echo \"$COMFYCTL_TEST_VALUE:${PATH:+has-path}\""), dir, Map.of("COMFYCTL_TEST_VALUE", "42"), logFile));

        assertThat(sh.onExit().get(10, TimeUnit.SECONDS)).isZero();
        assertThat(Files.readString(logFile)).isEqualTo("42:has-path\n");
    }

    @Test
    void workingDirectoryIsTheChildsCwd() throws Exception {
        Path work = Files.createDirectory(dir.resolve("work"));
        RunningProcess sh = spawn.launch(List.of("sh", "-c", "pwd -P"), work);

        assertThat(sh.onExit().get(10, TimeUnit.SECONDS)).isZero();
        assertThat(Files.readString(Spawn.log(sh)).trim()).isEqualTo(work.toRealPath().toString());
    }

    @Test
    void exitCodeOfAnExitIsReported() throws Exception {
        assertThat(spawn.sh("exit 3").onExit().get(10, TimeUnit.SECONDS)).isEqualTo(3);
    }

    @Test
    void exitCodeOfACrashIsOneHundredTwentyEightPlusTheSignal() throws Exception {
        RunningProcess aborting = spawn.python("import os; os.abort()");
        RunningProcess killed = spawn.sh("kill -KILL $$");

        assertThat(aborting.onExit().get(10, TimeUnit.SECONDS)).isEqualTo(128 + 6);
        assertThat(killed.onExit().get(10, TimeUnit.SECONDS)).isEqualTo(128 + 9);
        assertThat(aborting.isAlive()).isFalse();
    }

    @Test
    void missingProgramFailsTheLaunchNamingIt() {
        LaunchSpec spec = new LaunchSpec(List.of("no-such-python-xyz", "main.py"), dir, Map.of(), dir.resolve("x.log"));

        assertThatThrownBy(() -> new ProcessLauncher().launch(spec))
                .isInstanceOf(ProcessLaunchException.class)
                .hasMessageContaining("no-such-python-xyz not found on PATH=");
    }

    @Test
    void nonExecutableProgramFailsTheLaunch() throws IOException {
        Path script = Files.writeString(dir.resolve("main.py"), "print(1)\n");
        LaunchSpec spec = new LaunchSpec(List.of("./main.py"), dir, Map.of(), dir.resolve("x.log"));

        assertThatThrownBy(() -> new ProcessLauncher().launch(spec))
                .isInstanceOf(ProcessLaunchException.class)
                .hasMessageContaining(script.getFileName() + " is not an executable file");
    }

    @Test
    void missingWorkingDirectoryFailsTheLaunchNamingIt() {
        Path missing = dir.resolve("ComfyUI");
        LaunchSpec spec = new LaunchSpec(List.of("sh", "-c", "true"), missing, Map.of(), dir.resolve("x.log"));

        assertThatThrownBy(() -> new ProcessLauncher().launch(spec))
                .isInstanceOf(ProcessLaunchException.class)
                .hasMessageContaining("working directory " + missing + " does not exist");
    }

    @Test
    void emptyCommandIsRejected() {
        assertThatThrownBy(() -> new LaunchSpec(List.of(), dir, Map.of(), dir.resolve("x.log")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("command is empty");
    }

    @Test
    void closeStopsTheProcessOnceAndLaterClosesDoNothing() throws Exception {
        RunningProcess sleeper = spawn.sh("exec sleep 60");

        sleeper.close();
        sleeper.close();

        assertThat(sleeper.onExit().get(10, TimeUnit.SECONDS)).isEqualTo(143);
        assertThat(sleeper.stop(Duration.ofSeconds(1)).wasRunning()).isFalse();
    }
}
