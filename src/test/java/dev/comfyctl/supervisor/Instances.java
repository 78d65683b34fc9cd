package dev.comfyctl.supervisor;

import dev.comfyctl.comfy.ComfyClient;
import dev.comfyctl.config.Config;
import dev.comfyctl.gpu.GpuDetector;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.TestConfigs;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.OptionalInt;

/** Builds a {@link ComfyInstance} supervising a fake ComfyUI, with a state directory of its own. */
final class Instances {
    private Instances() {
    }

    static Config config(FakeComfyUi fake, Path home, String... settings) {
        return TestConfigs.forFake(fake, home, settings);
    }

    static ComfyInstance create(Config config) {
        return create(config, GpuDetector.mock(config.mockGpuCount(), config.mockGpuVramMib(), config.mockGpuName()));
    }

    static ComfyInstance create(Config config, GpuDetector gpus) {
        return new ComfyInstance(config, spec(config), gpus);
    }

    static InstanceSpec spec(Config config) {
        return new InstanceSpec("comfyui", config.comfyPort(), OptionalInt.empty(), config.logsDir(),
                config.home().resolve("comfyui.pid"), Map.of(), client(config));
    }

    static ComfyClient client(Config config) {
        return ComfyClient.create(URI.create("http://127.0.0.1:" + config.comfyPort()), Duration.ofSeconds(5));
    }
}
