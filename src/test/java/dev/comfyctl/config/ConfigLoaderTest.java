package dev.comfyctl.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ConfigLoaderTest {
    @TempDir
    Path home;

    private Map<String, String> env(String... pairs) {
        Map<String, String> env = new java.util.HashMap<>();
        env.put("COMFYCTL_HOME", home.toString());
        for (int i = 0; i < pairs.length; i += 2) {
            env.put(pairs[i], pairs[i + 1]);
        }
        return env;
    }

    @Test
    void defaultsMatchTheSeeds() {
        Config config = ConfigLoader.load(env(), Map.of()).config();

        assertThat(config.managerPort()).isEqualTo(8188);
        assertThat(config.comfyPort()).isEqualTo(8189);
        assertThat(config.managerHost()).isEqualTo("127.0.0.1");
        assertThat(config.comfyDir()).isEqualTo(Path.of(System.getProperty("user.home"), "ComfyUI"));
        assertThat(config.startTimeout()).isEqualTo(Duration.ofSeconds(120));
        assertThat(config.stopGrace()).isEqualTo(Duration.ofSeconds(10));
        assertThat(config.value(Setting.MANAGER_PORT).source()).isEqualTo(Source.DEFAULT);
    }

    @Test
    void fileOverridesDefaultsEnvironmentOverridesFileFlagsOverrideEnvironment() throws IOException {
        Files.writeString(home.resolve("config.env"), """
                # comments and blank lines are fine

                export MANAGER_PORT=9001
                COMFYUI_PORT="9002"
                GPU_MODE='mock'
                """);

        Config config = ConfigLoader.load(env("COMFYUI_PORT", "9003", "GPU_MODE", "cpu"), Map.of("GPU_MODE", "auto")).config();

        assertThat(config.managerPort()).isEqualTo(9001);
        assertThat(config.value(Setting.MANAGER_PORT).source()).isEqualTo(Source.FILE);
        assertThat(config.value(Setting.MANAGER_PORT).origin()).isEqualTo(home.resolve("config.env") + ":3");
        assertThat(config.comfyPort()).isEqualTo(9003);
        assertThat(config.value(Setting.COMFYUI_PORT).source()).isEqualTo(Source.ENVIRONMENT);
        assertThat(config.gpuMode()).isEqualTo("auto");
        assertThat(config.value(Setting.GPU_MODE).source()).isEqualTo(Source.FLAG);
    }

    @Test
    void everyBadValueIsReportedWithItsKeyValueAndOrigin() throws IOException {
        Files.writeString(home.resolve("config.env"), "COMFYUI_STOP_GRACE_SECONDS=soon\n");

        assertThatThrownBy(() -> ConfigLoader.load(env("MANAGER_PORT", "70000"), Map.of("GPU_MODE", "quantum")))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactlyInAnyOrder(
                        "MANAGER_PORT='70000' (from environment) must be from 1 to 65535",
                        "GPU_MODE='quantum' (from flag) must be one of auto, nvidia, mock, cpu",
                        "COMFYUI_STOP_GRACE_SECONDS='soon' (from " + home.resolve("config.env") + ":1) must be a whole number from 0 to 3600"));
    }

    @Test
    void unknownKeysInTheFileAreWarnedAboutNotFatal() throws IOException {
        Files.writeString(home.resolve("config.env"), "COMFYUI_PROT=8190\n");

        ConfigLoader.Loaded loaded = ConfigLoader.load(env(), Map.of());

        assertThat(loaded.warnings()).singleElement().asString()
                .contains("unknown key COMFYUI_PROT").contains("config.env:1");
    }

    @Test
    void aLineThatIsNotKeyValueIsAnError() throws IOException {
        Files.writeString(home.resolve("config.env"), "MANAGER_PORT 8188\n");

        assertThatThrownBy(() -> ConfigLoader.load(env(), Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("config.env:1 is not KEY=VALUE");
    }

    @Test
    void anExplicitConfigFileThatDoesNotExistIsAnError() {
        assertThatThrownBy(() -> ConfigLoader.load(env("COMFYCTL_CONFIG", home.resolve("nope.env").toString()), Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("nope.env does not exist");
    }

    @Test
    void anUnknownFlagKeyIsAnError() {
        assertThatThrownBy(() -> ConfigLoader.load(env(), Map.of("COMFY_PORT", "1")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("unknown setting 'COMFY_PORT'");
    }

    @Test
    void theStateDirectoryCannotBeMovedByTheFileItContains() throws IOException {
        Files.writeString(home.resolve("config.env"), "COMFYCTL_HOME=/elsewhere\n");

        ConfigLoader.Loaded loaded = ConfigLoader.load(env(), Map.of());

        assertThat(loaded.config().home()).isEqualTo(home);
        assertThat(loaded.warnings()).singleElement().asString().contains("COMFYCTL_HOME");
    }

    @Test
    void extraArgumentsAreSplitLikeAShell() {
        Config config = ConfigLoader.load(env("COMFYUI_EXTRA_ARGS", "--preview-method auto --output-directory '/data/my out'"), Map.of()).config();

        assertThat(config.extraArgs()).containsExactly("--preview-method", "auto", "--output-directory", "/data/my out");
    }

    @Test
    void anUnclosedQuoteInExtraArgumentsIsAnError() {
        assertThatThrownBy(() -> ConfigLoader.load(env("COMFYUI_EXTRA_ARGS", "--output-directory '/data"), Map.of()))
                .hasMessageContaining("COMFYUI_EXTRA_ARGS").hasMessageContaining("unclosed ' quote");
    }

    @Test
    void tildeExpandsToTheHomeDirectory() {
        Config config = ConfigLoader.load(env("COMFYUI_DIR", "~/Comfy"), Map.of()).config();

        assertThat(config.comfyDir()).isEqualTo(Path.of(System.getProperty("user.home"), "Comfy"));
    }

    @Test
    void cudaDeviceIsAutoOrANumber() {
        assertThat(ConfigLoader.load(env(), Map.of()).config().cudaDevice()).isEmpty();
        assertThat(ConfigLoader.load(env("COMFYUI_CUDA_DEVICE", "1"), Map.of()).config().cudaDevice()).isEqualTo(OptionalInt.of(1));
        assertThat(ConfigLoader.load(env("COMFYUI_DISABLE_CUDA_MALLOC", "false"), Map.of()).config().disableCudaMalloc()).contains(false);
    }

    @Test
    void aDaemonReachableFromTheNetworkWithoutATokenIsRefusedNamingTheFix() {
        assertThatThrownBy(() -> ConfigLoader.load(env("MANAGER_HOST", "0.0.0.0"), Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("MANAGER_HOST=0.0.0.0").hasMessageContaining("set MANAGER_TOKEN");
        assertThat(ConfigLoader.load(env("MANAGER_HOST", "0.0.0.0", "MANAGER_TOKEN", "t0ken"), Map.of()).config().managerToken())
                .contains("t0ken");
    }

    @Test
    void basicAuthenticationWithoutCredentialsIsRefused() {
        assertThatThrownBy(() -> ConfigLoader.load(env("PROXY_AUTH", "basic"), Map.of()))
                .hasMessageContaining("PROXY_BASIC_USER and PROXY_BASIC_PASSWORD");
    }

    @Test
    void passiveRequestPatternsAreValidated() {
        assertThat(ConfigLoader.load(env("PASSIVE_REQUESTS", "get /queue, * /internal/*, WEBSOCKET /ws"), Map.of())
                .config().passiveRequests()).containsExactly("GET /queue", "* /internal/*", "WEBSOCKET /ws");
        assertThatThrownBy(() -> ConfigLoader.load(env("PASSIVE_REQUESTS", "/queue"), Map.of()))
                .hasMessageContaining("PASSIVE_REQUESTS").hasMessageContaining("not 'METHOD /path'");
    }

    @Test
    void everySettingHasADescription() {
        assertThat(List.of(Setting.values())).allSatisfy(s -> assertThat(s.description()).isNotBlank());
    }
}
