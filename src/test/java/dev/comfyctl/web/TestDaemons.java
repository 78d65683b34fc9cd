package dev.comfyctl.web;

import dev.comfyctl.config.Config;
import dev.comfyctl.config.ConfigLoader;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Ports;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/** Configuration for an in-process daemon supervising a fake ComfyUI, with a state directory of its own. */
final class TestDaemons {
    private TestDaemons() {
    }

    static Config config(FakeComfyUi fake, Path home) {
        Map<String, String> env = new HashMap<>();
        env.put("COMFYCTL_HOME", home.toString());
        env.put("COMFYUI_DIR", fake.dir().toString());
        env.put("COMFYUI_PORT", Integer.toString(Ports.free()));
        env.put("MANAGER_PORT", Integer.toString(Ports.free()));
        env.put("GPU_MODE", "mock");
        env.put("GPU_MOCK_NAME", "NVIDIA GeForce RTX 4090");
        env.put("GPU_MOCK_VRAM_MB", "24564");
        env.put("COMFYUI_START_TIMEOUT_SECONDS", "30");
        env.put("COMFYUI_STOP_GRACE_SECONDS", "2");
        env.put("COMFYUI_RESTART_ON_CRASH", "false");
        return ConfigLoader.load(env, Map.of()).config();
    }
}
