package dev.comfyctl.telemetry;

import dev.comfyctl.config.Config;
import dev.comfyctl.config.Setting;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;

import java.util.Map;

/** What every startup span carries about the machine: {@code machine_id}, {@code gpu_mode}, {@code workers}. */
public record MachineAttributes(String machineId, String gpuMode, String workers) {
    static final AttributeKey<String> MACHINE_ID = AttributeKey.stringKey("machine_id");
    static final AttributeKey<String> GPU_MODE = AttributeKey.stringKey("gpu_mode");
    static final AttributeKey<String> WORKERS = AttributeKey.stringKey("workers");
    private static final String ONE_COMFYUI = "comfyui:1";

    /** @param env the process environment, for {@code WORKERS} while no setting of that name exists */
    public static MachineAttributes of(Config config, Map<String, String> env) {
        String workers = Setting.byKey("WORKERS").map(setting -> config.value(setting).raw())
                .orElse(env.getOrDefault("WORKERS", ONE_COMFYUI));
        return new MachineAttributes(config.machineId(), config.gpuMode(), workers.isBlank() ? ONE_COMFYUI : workers);
    }

    Attributes attributes() {
        return Attributes.of(MACHINE_ID, machineId, GPU_MODE, gpuMode, WORKERS, workers);
    }
}
