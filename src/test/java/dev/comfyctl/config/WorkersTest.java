package dev.comfyctl.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalInt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The WORKERS setting: how many ComfyUI instances, as the seed writes it. */
class WorkersTest {
    @TempDir
    Path home;

    private Config load(String... pairs) {
        Map<String, String> env = new HashMap<>();
        env.put("COMFYCTL_HOME", home.toString());
        for (int i = 0; i < pairs.length; i += 2) {
            env.put(pairs[i], pairs[i + 1]);
        }
        return ConfigLoader.load(env, Map.of()).config();
    }

    @Test
    void byDefaultOneInstanceAndWorkersCountsAsNotConfigured() {
        Config config = load();

        assertThat(config.workers()).isEqualTo(new Workers(OptionalInt.of(1)));
        assertThat(config.workersConfigured()).isFalse();
    }

    @Test
    void aCountOrAutoIsAccepted() {
        assertThat(load("WORKERS", "comfyui:3").workers().instances(1)).isEqualTo(3);
        Config auto = load("WORKERS", " ComfyUI:auto ");
        assertThat(auto.workersConfigured()).isTrue();
        assertThat(auto.workers().auto()).isTrue();
        assertThat(auto.workers().instances(4)).isEqualTo(4);
        assertThat(auto.workers().instances(0)).as("one instance on a machine without a GPU").isEqualTo(1);
    }

    @ParameterizedTest
    @ValueSource(strings = {"3", "comfyui", "comfyui:0", "comfyui:65", "comfyui:many", "redis-worker:2", "comfyui:2:3", ""})
    void anythingElseIsAConfigErrorThatNamesTheKeyTheValueAndTheShape(String value) {
        assertThatThrownBy(() -> load("WORKERS", value))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("WORKERS")
                .hasMessageContaining("comfyui:N")
                .hasMessageContaining("comfyui:auto");
    }

    @Test
    void severalInstancesWithOneConfiguredCudaDeviceIsAConfigError() {
        assertThatThrownBy(() -> load("WORKERS", "comfyui:2", "COMFYUI_CUDA_DEVICE", "1"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("COMFYUI_CUDA_DEVICE=1")
                .hasMessageContaining("unset COMFYUI_CUDA_DEVICE");
        assertThat(load("WORKERS", "comfyui:1", "COMFYUI_CUDA_DEVICE", "1").cudaDevice()).hasValue(1);
    }
}
