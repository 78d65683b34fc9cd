package dev.comfyctl.install;

import dev.comfyctl.gpu.GpuReport;

import java.util.Optional;

/**
 * Which PyTorch build fits this machine: the newest CUDA build the NVIDIA driver supports, or the CPU build.
 * Driver minimums from NVIDIA's CUDA compatibility table (Linux).
 */
final class TorchIndex {
    static final String BASE = "https://download.pytorch.org/whl/";

    private TorchIndex() {
    }

    /** The wheel index for {@code gpus}; empty when the driver version cannot be read. */
    static String forMachine(GpuReport gpus) {
        Optional<Integer> major = gpus.gpus().stream().findFirst().flatMap(gpu -> driverMajor(gpu.driverVersion()));
        if (gpus.gpus().isEmpty() || major.isEmpty()) {
            return BASE + "cpu";
        }
        int driver = major.get();
        String build = driver >= 570 ? "cu128" : driver >= 560 ? "cu126" : driver >= 550 ? "cu124" : driver >= 525 ? "cu121" : "cu118";
        return BASE + build;
    }

    private static Optional<Integer> driverMajor(String version) {
        try {
            return Optional.of(Integer.parseInt(version.split("\\.")[0]));
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }
}
