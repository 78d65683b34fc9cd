package dev.comfyctl.daemon;

import dev.comfyctl.config.Config;
import dev.comfyctl.gpu.GpuDetector;

/** The GPU detector that GPU_MODE and its mock settings ask for. */
public final class GpuDetectors {
    private GpuDetectors() {
    }

    public static GpuDetector fromConfig(Config config) {
        return switch (config.gpuMode()) {
            case "mock" -> GpuDetector.mock(config.mockGpuCount(), config.mockGpuVramMib(), config.mockGpuName());
            case "cpu" -> GpuDetector.cpu();
            case "nvidia" -> GpuDetector.nvidiaSmi(GpuDetector.Mode.NVIDIA, System.getenv(), GpuDetector.DEFAULT_TIMEOUT);
            default -> GpuDetector.auto();
        };
    }
}
