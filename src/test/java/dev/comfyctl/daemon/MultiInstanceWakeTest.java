package dev.comfyctl.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.config.Config;
import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.supervisor.InstanceState;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Http;
import dev.comfyctl.testing.Ports;
import dev.comfyctl.testing.TestConfigs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Two mock GPUs, both instances asleep: prompts wake one instance, and a second one once the first is busy. */
@Timeout(180)
class MultiInstanceWakeTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PROMPT = """
            {"prompt": {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "spread"}}}}""";

    @TempDir
    Path temp;

    private Daemon daemon;
    private URI base;

    @BeforeEach
    void startTwoSleepingInstances() {
        FakeComfyUi fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        fake.behave(Map.of("prompt_seconds", 20, "devices", FakeComfyUi.gpus(2)));
        Config config = TestConfigs.forFake(fake, temp.resolve("state"), "COMFYUI_PORT", Integer.toString(Ports.freeRun(2)),
                "GPU_MODE", "mock", "GPU_MOCK_COUNT", "2", "WORKERS", "comfyui:2", "IDLE_TIMEOUT_SECONDS", "0");
        daemon = Daemon.start(config, false);
        base = URI.create("http://127.0.0.1:" + config.managerPort());
    }

    @AfterEach
    void stopDaemon() {
        if (daemon != null) {
            daemon.close();
        }
    }

    private ComfyInstance instance(String name) {
        return daemon.instances().stream().filter(i -> i.name().equals(name)).findFirst().orElseThrow();
    }

    private String prompt() throws Exception {
        HttpResponse<String> response = Http.postJson(base.resolve("/prompt"), PROMPT);
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return JSON.readTree(response.body()).path("prompt_id").asText();
    }

    private boolean queues(String name, String promptId) {
        return Http.get(URI.create("http://127.0.0.1:" + instance(name).spec().port() + "/queue")).body().contains(promptId);
    }

    @Test
    void aPromptThatFindsTheAwakeInstanceBusyWakesTheNextAndLaterPromptsGoThere() throws Exception {
        String first = prompt();
        assertThat(instance("comfyui-gpu0").state()).isEqualTo(InstanceState.READY);
        assertThat(instance("comfyui-gpu1").state()).isEqualTo(InstanceState.STOPPED);
        assertThat(queues("comfyui-gpu0", first)).isTrue();

        String second = prompt();

        assertThat(queues("comfyui-gpu0", second)).as("the prompt queues where ComfyUI is awake").isTrue();
        await().atMost(Duration.ofSeconds(60)).until(() -> instance("comfyui-gpu1").state() == InstanceState.READY);
        String third = prompt();
        assertThat(queues("comfyui-gpu1", third)).isTrue();
        JsonNode status = JSON.readTree(Http.get(base.resolve("/manager/status")).body());
        assertThat(status.path("instances").findValuesAsText("state")).containsOnly("READY");
    }

    @Test
    void whileOneInstanceIdlesNoOtherIsWoken() throws Exception {
        instance("comfyui-gpu0").start(event -> { }).join();

        HttpResponse<String> idle = Http.get(base.resolve("/system_stats"));
        String first = prompt();

        assertThat(idle.statusCode()).isEqualTo(200);
        assertThat(queues("comfyui-gpu0", first)).isTrue();
        assertThat(instance("comfyui-gpu1").state()).isEqualTo(InstanceState.STOPPED);
    }
}
