package dev.comfyctl.supervisor;

import dev.comfyctl.comfy.ComfyClient;
import dev.comfyctl.config.Config;
import dev.comfyctl.config.ConfigLoader;
import dev.comfyctl.gpu.GpuDetector;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Ports;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalInt;

/** Builds a {@link ComfyInstance} supervising a fake ComfyUI, with a state directory of its own. */
final class Instances {
    private Instances() {
    }

    static Config config(FakeComfyUi fake, Path home, String... settings) {
        Map<String, String> env = new HashMap<>();
        env.put("COMFYCTL_HOME", home.toString());
        env.put("COMFYUI_DIR", fake.dir().toString());
        env.put("COMFYUI_PORT", Integer.toString(Ports.free()));
        env.put("MANAGER_PORT", Integer.toString(Ports.free()));
        env.put("GPU_MODE", "mock");
        env.put("COMFYUI_START_TIMEOUT_SECONDS", "30");
        env.put("COMFYUI_STOP_GRACE_SECONDS", "2");
        env.put("COMFYUI_CRASH_BACKOFF_SECONDS", "0");
        for (int i = 0; i < settings.length; i += 2) {
            env.put(settings[i], settings[i + 1]);
        }
        return ConfigLoader.load(env, Map.of()).config();
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
