package dev.comfyctl.supervisor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.config.Config;
import dev.comfyctl.gpu.GpuDetector;
import dev.comfyctl.process.PortOwner;
import dev.comfyctl.supervisor.StepEvent.Outcome;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.FakeNvidiaSmi;
import dev.comfyctl.testing.FakeProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** The supervisor against a real fake ComfyUI process; BUS-SERVER-MGMT-nnn names the seed's acceptance criteria. */
class ComfyInstanceTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir
    Path temp;

    private FakeComfyUi fake;
    private ComfyInstance instance;
    private final List<StepEvent> steps = new CopyOnWriteArrayList<>();

    @BeforeEach
    void installFake() {
        fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
    }

    @AfterEach
    void closeInstance() {
        if (instance != null) {
            instance.close();
        }
    }

    private Config config(String... settings) {
        return Instances.config(fake, temp.resolve("state"), settings);
    }

    private StartOutcome start(Config config) {
        instance = Instances.create(config);
        return instance.start(steps::add).join();
    }

    private JsonNode fakeEnv(Config config) throws IOException, InterruptedException {
        HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + config.comfyPort() + "/fake/env")).build(), HttpResponse.BodyHandlers.ofString());
        return JSON.readTree(response.body());
    }

    @Test
    void startRunsEveryStepInOrderAndReachesReady() {
        Config config = config();

        StartOutcome outcome = start(config);

        assertThat(instance.state()).isEqualTo(InstanceState.READY);
        assertThat(outcome.alreadyRunning()).isFalse();
        assertThat(steps.stream().filter(s -> s.outcome() != Outcome.RUNNING).map(StepEvent::step))
                .containsExactly(Step.values());
        assertThat(Instances.client(config).isReady()).isTrue();
    }

    @Test
    void bus002ServerBecomesResponsiveWithinTenSeconds() {
        StartOutcome outcome = start(config());

        assertThat(outcome.timeToReady()).isLessThan(Duration.ofSeconds(10));
    }

    @Test
    void bus003VirtualEnvironmentIsActivatedForComfyUi() throws Exception {
        Config config = config();
        start(config);

        JsonNode env = fakeEnv(config);

        assertThat(env.path("env").path("VIRTUAL_ENV").asText()).isEqualTo(fake.dir().resolve("venv").toString());
        assertThat(env.path("env").path("PYTHONUNBUFFERED").asText()).isEqualTo("1");
    }

    @Test
    void bus004StrayComfyUiOfTheSameInstallIsStoppedBeforeTheNewOneStarts() {
        Config config = config();
        try (FakeProcess stray = fake.launch(config.comfyPort())) {
            start(config);

            assertThat(stray.process().isAlive()).isFalse();
            assertThat(steps).anySatisfy(step -> {
                assertThat(step.step()).isEqualTo(Step.STRAY_PROCESSES);
                assertThat(step.message()).contains("pid " + stray.pid());
            });
            assertThat(instance.state()).isEqualTo(InstanceState.READY);
        }
    }

    @Test
    void bus005And018TimestampedSessionLogIsWrittenAndKeptAfterStop() throws IOException {
        StartOutcome outcome = start(config());
        instance.stop().join();

        assertThat(outcome.sessionLog().getFileName().toString()).matches("\\d{8}_\\d{6}(_\\d+)?\\.log");
        assertThat(Files.readString(outcome.sessionLog())).contains("To see the GUI go to");
    }

    @Test
    void bus006GpuNameAndVramAreShownFromNvidiaSmi() {
        Config config = config("GPU_MODE", "auto");
        GpuDetector nvidia = GpuDetector.nvidiaSmi(GpuDetector.Mode.AUTO,
                Map.of("PATH", FakeNvidiaSmi.binDir() + ":/usr/bin:/bin", "FAKE_GPUS", "NVIDIA GeForce RTX 4090:24564:23000"),
                Duration.ofSeconds(5));
        instance = Instances.create(config, nvidia);

        instance.start(steps::add).join();

        assertThat(steps).anySatisfy(step -> {
            assertThat(step.step()).isEqualTo(Step.GPU);
            assertThat(step.message()).contains("NVIDIA GeForce RTX 4090").contains("24.0 GB");
        });
    }

    @Test
    void gpuMissingIsAWarningAndComfyUiRunsOnTheCpu() throws Exception {
        Config config = config("GPU_MODE", "auto");
        instance = Instances.create(config, GpuDetector.nvidiaSmi(GpuDetector.Mode.AUTO,
                Map.of("PATH", temp.toString()), Duration.ofSeconds(5)));

        instance.start(steps::add).join();

        assertThat(steps).anySatisfy(step -> {
            assertThat(step.step()).isEqualTo(Step.GPU);
            assertThat(step.outcome()).isEqualTo(Outcome.WARNING);
        });
        assertThat(fakeEnv(config).path("argv").toString()).contains("--cpu");
    }

    @Test
    void bus007ModelFilesAreCountedPerFolder() {
        fake.addModel("checkpoints", "sd15.safetensors", 16);
        fake.addModel("checkpoints", "sdxl.safetensors", 16);
        fake.addModel("loras", "detail.safetensors", 16);

        start(config());

        assertThat(steps).anySatisfy(step -> {
            assertThat(step.step()).isEqualTo(Step.MODELS);
            assertThat(step.message()).contains("3 model files").contains("checkpoints 2").contains("loras 1");
        });
    }

    @Test
    void bus019GpuOnlyModeOnA24GbGpuWithCudaFlags() throws Exception {
        Config config = config("GPU_MOCK_VRAM_MB", "24564");
        start(config);

        JsonNode env = fakeEnv(config);

        assertThat(env.path("argv").toString()).contains("--gpu-only").contains("--disable-cuda-malloc").contains("--cuda-device");
        assertThat(env.path("env").path("CUDA_VISIBLE_DEVICES").asText()).isEqualTo("0");
    }

    @Test
    void bus012And013CooperativeComfyUiStopsOnSigtermWithinFiveSeconds() {
        start(config());
        long pid = instance.snapshot().pid().orElseThrow();

        StopOutcome stopped = instance.stop().join();

        assertThat(stopped.wasRunning()).isTrue();
        assertThat(stopped.forced()).isFalse();
        assertThat(stopped.took()).isLessThan(Duration.ofSeconds(5));
        assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive)).isNotEqualTo(java.util.Optional.of(true));
    }

    @Test
    void comfyUiIgnoringSigtermIsKilledAfterTheGracePeriod() {
        fake.behave(Map.of("ignore_sigterm", true));
        start(config("COMFYUI_STOP_GRACE_SECONDS", "1"));

        StopOutcome stopped = instance.stop().join();

        assertThat(stopped.forced()).isTrue();
        assertThat(stopped.took()).isGreaterThanOrEqualTo(Duration.ofSeconds(1));
        assertThat(instance.state()).isEqualTo(InstanceState.STOPPED);
    }

    @Test
    void bus014ChildProcessesDieWithComfyUiAndThePortIsFree() {
        fake.behave(Map.of("spawn_child", true));
        Config config = config();
        start(config);
        await().until(() -> fake.childPid().isPresent());
        long child = fake.childPid().getAsLong();
        assertThat(ProcessHandle.of(child)).isPresent();

        instance.stop().join();

        await().atMost(Duration.ofSeconds(5)).until(() -> ProcessHandle.of(child).map(p -> !p.isAlive()).orElse(true));
        assertThat(PortOwner.isFree("127.0.0.1", config.comfyPort())).isTrue();
        assertThat(Strays.find(fake.dir())).isEmpty();
        assertThat(config.home().resolve("comfyui.pid")).doesNotExist();
    }

    @Test
    void bus017StopIsIdempotentWhenNothingRuns() {
        instance = Instances.create(config());

        StopOutcome first = instance.stop().join();
        StopOutcome second = instance.stop().join();

        assertThat(first.wasRunning()).isFalse();
        assertThat(second.wasRunning()).isFalse();
        assertThat(instance.state()).isEqualTo(InstanceState.STOPPED);
    }

    @Test
    void bus020ComfyUiKeepsRunningUntilStopped() {
        start(config());
        long pid = instance.snapshot().pid().orElseThrow();

        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(3))
                .until(() -> instance.state() == InstanceState.READY && ProcessHandle.of(pid).isPresent());
    }

    @Test
    void startWhenAlreadyReadyStartsNothing() {
        start(config());

        StartOutcome again = instance.start(event -> { }).join();

        assertThat(again.alreadyRunning()).isTrue();
        assertThat(fake.starts()).hasSize(1);
    }

    @Test
    void bus016MissingComfyUiDirectoryNamesThePathAndHowToSetIt() {
        Config config = Instances.config(fake, temp.resolve("state"), "COMFYUI_DIR", temp.resolve("nowhere").toString());

        assertStartFails(config, Step.PREFLIGHT, temp.resolve("nowhere") + " does not exist", "COMFYUI_DIR");
    }

    @Test
    void bus015MissingVirtualEnvironmentNamesTheExpectedPathAndHowToCreateIt() throws IOException {
        Files.delete(fake.python());

        assertStartFails(config(), Step.PREFLIGHT, fake.dir().resolve("venv/bin/python").toString(), "python3 -m venv");
    }

    @Test
    void missingMainPyIsAPreflightError() throws IOException {
        Files.delete(fake.dir().resolve("main.py"));

        assertStartFails(config(), Step.PREFLIGHT, "main.py is missing");
    }

    @Test
    void portTakenByAnotherProgramNamesThatProgram() throws Exception {
        Config config = config();
        try (java.net.ServerSocket taken = new java.net.ServerSocket(config.comfyPort(), 1,
                java.net.InetAddress.getByName("127.0.0.1"))) {
            assertStartFails(config, Step.PREFLIGHT, "port " + config.comfyPort(), "pid " + ProcessHandle.current().pid(), "COMFYUI_PORT");
        }
    }

    @Test
    void twoExclusiveMemoryFlagsInExtraArgumentsAreRefusedBeforeLaunch() {
        assertStartFails(config("COMFYUI_EXTRA_ARGS", "--lowvram --highvram"), Step.FLAGS, "--lowvram", "--highvram");
        assertThat(fake.starts()).isEmpty();
    }

    @Test
    void startTimeoutKillsWhatWasStartedAndReportsTheLogTail() {
        fake.behave(Map.of("startup_delay_seconds", 30));

        StartFailedException failure = assertStartFails(config("COMFYUI_START_TIMEOUT_SECONDS", "1"), Step.LAUNCH,
                "did not answer /system_stats within 1 s");

        assertThat(failure.logTail()).isNotEmpty();
        assertThat(Strays.find(fake.dir())).isEmpty();
    }

    @Test
    void comfyUiExitingDuringStartIsAFailureWithItsExitCode() {
        fake.behave(Map.of("exit_at_startup", 3));

        assertStartFails(config(), Step.LAUNCH, "exited with code 3");
    }

    @Test
    void crashIsRestartedAutomatically() {
        Config config = config();
        start(config);
        long firstPid = instance.snapshot().pid().orElseThrow();

        ProcessHandle.of(firstPid).orElseThrow().destroyForcibly();

        await().atMost(Duration.ofSeconds(20)).until(() -> instance.state() == InstanceState.READY
                && instance.snapshot().pid().orElse(firstPid) != firstPid);
        assertThat(fake.starts()).hasSize(2);
        assertThat(instance.snapshot().consecutiveCrashes()).isEqualTo(1);
    }

    @Test
    void listenersAreToldTheStepsOfEveryStartAlsoOfACrashRestart() {
        Config config = config();
        instance = Instances.create(config);
        List<StepEvent> heard = new CopyOnWriteArrayList<>();
        instance.addListener(new InstanceListener() {
            @Override
            public void stateChanged(String name, InstanceState from, InstanceState to, String reason) {
            }

            @Override
            public void stepHappened(String name, StepEvent event) {
                heard.add(event);
            }
        });
        instance.start(event -> { }).join();
        assertThat(heard).extracting(StepEvent::step).contains(Step.PREFLIGHT, Step.LAUNCH, Step.URLS);
        long firstPid = instance.snapshot().pid().orElseThrow();
        heard.clear();

        ProcessHandle.of(firstPid).orElseThrow().destroyForcibly();

        await().atMost(Duration.ofSeconds(20)).until(() -> heard.stream().anyMatch(event -> event.step() == Step.URLS));
        assertThat(heard.get(0).step()).isEqualTo(Step.PREFLIGHT);
    }

    @Test
    void crashLoopStopsAfterTheConfiguredRestartsWithAClearFailedState() {
        fake.behave(Map.of("crash_after_seconds", 0.2, "crash_exit_code", 7));
        start(config("COMFYUI_CRASH_MAX_RESTARTS", "2"));

        await().atMost(Duration.ofSeconds(30)).until(() -> instance.state() == InstanceState.FAILED
                && instance.snapshot().restartScheduledAt().isEmpty() && instance.snapshot().consecutiveCrashes() == 3);
        assertThat(fake.starts()).hasSize(3);
        assertThat(instance.snapshot().lastError()).isPresent();
    }

    @Test
    void crashIsNotRestartedWhenRestartingIsOff() {
        fake.behave(Map.of("crash_after_seconds", 0.2));
        start(config("COMFYUI_RESTART_ON_CRASH", "false"));

        await().atMost(Duration.ofSeconds(10)).until(() -> instance.state() == InstanceState.FAILED);
        assertThat(fake.starts()).hasSize(1);
    }

    @Test
    void stopDuringAStartCancelsItAndLeavesNothingRunning() {
        fake.behave(Map.of("startup_delay_seconds", 30));
        instance = Instances.create(config());
        var starting = instance.start(steps::add);
        await().until(() -> !fake.starts().isEmpty());

        instance.stop().join();

        assertThatThrownBy(starting::join).isInstanceOf(CompletionException.class).hasCauseInstanceOf(StartFailedException.class);
        assertThat(Strays.find(fake.dir())).isEmpty();
        assertThat(instance.state()).isIn(InstanceState.STOPPED, InstanceState.FAILED);
    }

    @Test
    void aWarmupWorkflowRunsBeforeReady() throws IOException {
        Path workflow = temp.resolve("warmup.json");
        Files.writeString(workflow, """
                {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
                 "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "warmup"}}}""");

        start(config("WARMUP_WORKFLOW", workflow.toString()));

        assertThat(steps).anySatisfy(step -> assertThat(step.message()).startsWith("warmup workflow ran in"));
        try (var outputs = Files.list(fake.dir().resolve("output"))) {
            assertThat(outputs.map(p -> p.getFileName().toString())).anyMatch(name -> name.startsWith("warmup"));
        }
    }

    @Test
    void aFailingWarmupFailsTheStartWithComfyUisErrorAndStopsIt() throws IOException {
        Path workflow = temp.resolve("warmup.json");
        Files.writeString(workflow, "{\"1\": {\"class_type\": \"NoSuchNode\", \"inputs\": {}}}");

        assertStartFails(config("WARMUP_WORKFLOW", workflow.toString()), Step.LAUNCH, "warmup with", "NoSuchNode");

        assertThat(Strays.find(fake.dir())).isEmpty();
    }

    @Test
    void aMissingWarmupWorkflowIsAPreflightError() {
        assertStartFails(config("WARMUP_WORKFLOW", temp.resolve("nope.json").toString()), Step.PREFLIGHT, "WARMUP_WORKFLOW", "nope.json");
    }

    private StartFailedException assertStartFails(Config config, Step step, String... messageParts) {
        instance = Instances.create(config);
        Throwable thrown = org.assertj.core.api.Assertions.catchThrowable(() -> instance.start(steps::add).join());
        assertThat(thrown).isInstanceOf(CompletionException.class).hasCauseInstanceOf(StartFailedException.class);
        StartFailedException failure = (StartFailedException) thrown.getCause();
        assertThat(failure.step()).isEqualTo(step);
        assertThat(failure.getMessage()).contains(messageParts);
        assertThat(instance.state()).isEqualTo(InstanceState.FAILED);
        return failure;
    }
}
