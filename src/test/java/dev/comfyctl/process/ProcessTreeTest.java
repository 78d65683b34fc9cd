package dev.comfyctl.process;

import static dev.comfyctl.process.Spawn.PATIENCE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcessTreeTest {

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
    void terminateStopsACooperativeProcessWithSigterm() throws Exception {
        RunningProcess sleeper = spawn.sh("echo ready; exec sleep 60");
        Spawn.firstLine(sleeper);

        StopResult result = ProcessTree.terminate(sleeper.pid(), PATIENCE);

        assertThat(result.wasRunning()).isTrue();
        assertThat(result.forced()).isFalse();
        assertThat(result.signalled()).containsExactly(sleeper.pid());
        assertThat(result.survivors()).isEmpty();
        assertThat(sleeper.onExit().get(10, TimeUnit.SECONDS)).isEqualTo(143);
    }

    @Test
    void terminateKillsTheChildrenOfTheRoot() {
        Path pids = dir.resolve("children");
        RunningProcess parent = spawn.sh("sleep 60 & echo $! > " + pids + "; sleep 60 & echo $! >> " + pids + "; echo ready; wait");
        Spawn.firstLine(parent);
        List<Long> children = Spawn.read(pids).lines().map(Long::parseLong).collect(Collectors.toList());

        StopResult result = parent.stop(PATIENCE);

        assertThat(result.signalled()).contains(parent.pid()).containsAll(children);
        assertThat(result.survivors()).isEmpty();
        assertThat(children).noneMatch(Spawn::running);
    }

    @Test
    void terminateKillsGrandchildThatWasReparentedToInit() {
        Path grandchildPid = dir.resolve("grandchild");
        RunningProcess root = spawn.sh("(sleep 60 & echo $! > " + grandchildPid + "); exec sleep 60");
        long grandchild = Spawn.pidIn(grandchildPid);
        await().atMost(PATIENCE).until(() -> ProcStat.read(grandchild).orElseThrow().ppid() != root.pid());
        assertThat(ProcessHandle.of(root.pid()).orElseThrow().descendants().map(ProcessHandle::pid))
                .as("descendants alone miss the reparented grandchild").doesNotContain(grandchild);

        StopResult result = root.stop(PATIENCE);

        assertThat(result.signalled()).containsExactlyInAnyOrder(root.pid(), grandchild);
        assertThat(result.survivors()).isEmpty();
        assertThat(Spawn.running(grandchild)).isFalse();
    }

    @Test
    void terminateFindsWhatTheRootLeftBehindAfterItExited() throws Exception {
        Path orphanPid = dir.resolve("orphan");
        RunningProcess root = spawn.sh("sleep 60 & echo $! > " + orphanPid);
        long orphan = Spawn.pidIn(orphanPid);
        assertThat(root.onExit().get(10, TimeUnit.SECONDS)).isZero();

        StopResult result = root.stop(PATIENCE);

        assertThat(result.wasRunning()).isTrue();
        assertThat(result.signalled()).containsExactly(orphan);
        assertThat(Spawn.running(orphan)).isFalse();
    }

    @Test
    void terminateKillsAProcessThatIgnoresSigtermOnceTheGraceRunsOut() throws Exception {
        RunningProcess stubborn = spawn.sh("trap '' TERM; echo ready; exec sleep 60");
        Spawn.firstLine(stubborn);

        StopResult result = stubborn.stop(Duration.ofMillis(300));

        assertThat(result.wasRunning()).isTrue();
        assertThat(result.forced()).isTrue();
        assertThat(result.survivors()).isEmpty();
        assertThat(result.took()).isGreaterThanOrEqualTo(Duration.ofMillis(300));
        assertThat(stubborn.onExit().get(10, TimeUnit.SECONDS)).isEqualTo(137);
    }

    @Test
    void interruptedStopKillsAtOnceAndKeepsTheInterruptFlag() throws Exception {
        RunningProcess stubborn = spawn.sh("trap '' TERM; echo ready; exec sleep 60");
        Spawn.firstLine(stubborn);

        Thread.currentThread().interrupt();
        StopResult result = stubborn.stop(Duration.ofSeconds(30));

        assertThat(Thread.interrupted()).isTrue();
        assertThat(result.forced()).isTrue();
        assertThat(result.took()).isLessThan(Duration.ofSeconds(30));
        assertThat(result.survivors()).isEmpty();
        assertThat(stubborn.onExit().get(10, TimeUnit.SECONDS)).isEqualTo(137);
    }

    @Test
    void terminateKillsStubbornChildrenOfACooperativeRoot() {
        Path childPid = dir.resolve("child");
        RunningProcess root = spawn.sh("sh -c \"trap '' TERM; echo \\$\\$ > " + childPid + "; exec sleep 60\" & wait");
        long child = Spawn.pidIn(childPid);

        StopResult result = root.stop(Duration.ofMillis(200));

        assertThat(result.forced()).isTrue();
        assertThat(result.signalled()).contains(root.pid(), child);
        assertThat(result.survivors()).isEmpty();
        assertThat(Spawn.running(child)).isFalse();
    }

    @Test
    void terminateOfAPidThatDoesNotExistReportsNothingWasRunning() {
        StopResult result = ProcessTree.terminate(4_194_305L, Duration.ofSeconds(1));

        assertThat(result.wasRunning()).isFalse();
        assertThat(result.forced()).isFalse();
        assertThat(result.signalled()).isEmpty();
        assertThat(result.clean()).isTrue();
    }

    @Test
    void stoppingTwiceReportsNothingRunningTheSecondTime() {
        RunningProcess sleeper = spawn.sh("exec sleep 60");

        assertThat(sleeper.stop(PATIENCE).wasRunning()).isTrue();
        assertThat(sleeper.stop(PATIENCE).wasRunning()).isFalse();
    }

    @Test
    void terminateCountsAZombieOfAnotherParentAsGone() {
        RunningProcess parent = spawn.python(
                "import subprocess, time; p = subprocess.Popen(['true']); print(p.pid, flush=True); time.sleep(60)");
        long zombie = Long.parseLong(Spawn.firstLine(parent));
        await().atMost(PATIENCE).until(() -> ProcStat.read(zombie).map(ProcStat::hasExited).orElse(true));

        assertThat(ProcessTree.terminate(zombie, PATIENCE).wasRunning()).isFalse();
    }

    @Test
    void terminateRefusesInitAndThisJvm() {
        assertThatThrownBy(() -> ProcessTree.terminate(1, PATIENCE))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("pid 1 <= 1");
        long self = ProcessHandle.current().pid();
        assertThatThrownBy(() -> ProcessTree.terminate(self, PATIENCE))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("pid " + self + " is this JVM");
    }

    @Test
    void statParsingSurvivesParenthesesAndSpacesInTheCommandName() {
        ProcStat stat = ProcStat.parse(42, "42 (a) b (c) S 7 42 40 0 -1 4194304").orElseThrow();

        assertThat(stat).isEqualTo(new ProcStat(42, 'S', 7, 42, 40));
    }
}
