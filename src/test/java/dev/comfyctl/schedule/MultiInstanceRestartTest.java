package dev.comfyctl.schedule;

import dev.comfyctl.config.Config;
import dev.comfyctl.events.Events;
import dev.comfyctl.gpu.GpuDetector;
import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.supervisor.InstanceGroup;
import dev.comfyctl.supervisor.InstanceState;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Http;
import dev.comfyctl.testing.Ports;
import dev.comfyctl.testing.TestConfigs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** One restart schedule for two instances: they are drained and restarted one after another, never together. */
@Timeout(120)
class MultiInstanceRestartTest {
    private static final String PROMPT = """
            {"prompt": {
              "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
              "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "drained"}}}}""";

    @TempDir
    Path temp;

    private InstanceGroup group;
    private RestartScheduler scheduler;

    @AfterEach
    void close() {
        if (scheduler != null) {
            scheduler.close();
        }
        if (group != null) {
            group.close();
        }
    }

    @Test
    void aScheduledRestartRestartsTheInstancesOneAfterAnotherSoOneAlwaysServes() {
        FakeComfyUi fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        fake.behave(Map.of("prompt_seconds", 3, "devices", FakeComfyUi.gpus(2)));
        Config config = TestConfigs.forFake(fake, temp.resolve("state"), "WORKERS", "comfyui:2", "GPU_MOCK_COUNT", "2",
                "COMFYUI_PORT", Integer.toString(Ports.freeRun(2)));
        GpuDetector gpus = GpuDetector.mock(2, config.mockGpuVramMib(), config.mockGpuName());
        group = InstanceGroup.create(config, gpus, Events.NONE);
        ComfyInstance gpu0 = group.all().get(0);
        ComfyInstance gpu1 = group.all().get(1);
        List<String> transitions = new CopyOnWriteArrayList<>();
        group.all().forEach(instance -> instance.addListener((name, from, to, reason) -> transitions.add(name + " " + to)));
        CompletableFuture.allOf(gpu0.start(e -> { }), gpu1.start(e -> { })).join();
        long[] firstPids = {gpu0.snapshot().pid().orElseThrow(), gpu1.snapshot().pid().orElseThrow()};
        URI gpu0Prompt = URI.create("http://127.0.0.1:" + gpu0.spec().port() + "/prompt");
        assertThat(Http.postJson(gpu0Prompt, PROMPT).statusCode()).isEqualTo(200);

        scheduler = new RestartScheduler(group.all(), gpus, config.home(), Duration.ofSeconds(1), Duration.ofSeconds(60),
                false, Clock.systemUTC(), Events.NONE).start();

        await().atMost(Duration.ofSeconds(20)).until(() -> scheduler.isRestarting(gpu0));
        assertThat(scheduler.isRestarting(gpu1)).isFalse();
        assertThat(gpu1.state()).isEqualTo(InstanceState.READY);
        await().atMost(Duration.ofSeconds(60)).until(() -> gpu0.snapshot().pid().orElse(firstPids[0]) != firstPids[0]
                && gpu1.snapshot().pid().orElse(firstPids[1]) != firstPids[1]
                && gpu0.state() == InstanceState.READY && gpu1.state() == InstanceState.READY);
        await().atMost(Duration.ofSeconds(20)).until(() -> scheduler.status().lastOutcome().isPresent());
        scheduler.disable();
        assertThat(transitions).containsSubsequence("comfyui-gpu0 STOPPING", "comfyui-gpu0 READY",
                "comfyui-gpu1 STOPPING", "comfyui-gpu1 READY");
        assertThat(transitions.subList(transitions.indexOf("comfyui-gpu0 STOPPING"), transitions.indexOf("comfyui-gpu1 STOPPING")))
                .as("gpu1 keeps serving until gpu0 is back").doesNotContain("comfyui-gpu1 STOPPING", "comfyui-gpu1 STOPPED");
        assertThat(scheduler.status().lastOutcome()).hasValueSatisfying(outcome ->
                assertThat(outcome).contains("comfyui-gpu0: scheduled restart done", "comfyui-gpu1: scheduled restart done"));
    }
}
