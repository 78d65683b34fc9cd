package dev.comfyctl.testing;

import dev.comfyctl.config.Config;
import dev.comfyctl.config.ConfigLoader;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/** Configuration pointing at a fake ComfyUI, with free ports, mock GPUs and a state directory of its own. */
public final class TestConfigs {
    private TestConfigs() {
    }

    /** @param settings more KEY, VALUE pairs, overriding the test defaults */
    public static Config forFake(FakeComfyUi fake, Path home, String... settings) {
        return forComfyUi(fake.dir(), home, settings);
    }

    /** Like {@link #forFake} for a ComfyUI install in {@code comfyUiDir}, such as {@link ComfyUiVersions}' checkout. */
    public static Config forComfyUi(Path comfyUiDir, Path home, String... settings) {
        Map<String, String> env = new HashMap<>();
        env.put("COMFYCTL_HOME", home.toString());
        env.put("COMFYUI_DIR", comfyUiDir.toString());
        env.put("COMFYUI_PORT", Integer.toString(Ports.free()));
        env.put("MANAGER_PORT", Integer.toString(Ports.free()));
        env.put("HEALTH_PORT", Integer.toString(Ports.free()));
        env.put("GPU_MODE", "mock");
        env.put("GPU_MOCK_NAME", "NVIDIA GeForce RTX 4090");
        env.put("GPU_MOCK_VRAM_MB", "24564");
        env.put("COMFYUI_START_TIMEOUT_SECONDS", "30");
        env.put("COMFYUI_STOP_GRACE_SECONDS", "2");
        env.put("COMFYUI_CRASH_BACKOFF_SECONDS", "0");
        for (int i = 0; i < settings.length; i += 2) {
            env.put(settings[i], settings[i + 1]);
        }
        return ConfigLoader.load(env, Map.of()).config();
    }
}
