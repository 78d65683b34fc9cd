package dev.comfyctl.supervisor;

import dev.comfyctl.config.Config;
import dev.comfyctl.gpu.Gpu;
import dev.comfyctl.gpu.GpuReport;
import dev.comfyctl.process.ProcessInfo;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.TestConfigs;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** How WORKERS and the GPUs found become instances. */
class InstanceGroupTest {
    @TempDir
    Path temp;

    private FakeComfyUi fake;

    @BeforeEach
    void install() {
        fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
    }

    private Config config(String... settings) {
        return TestConfigs.forFake(fake, temp.resolve("state"), settings);
    }

    private static GpuReport gpus(int count) {
        return new GpuReport(IntStream.range(0, count).mapToObj(i -> new Gpu(i, "Mock GPU", 24_576, 24_576, "mock")).toList(),
                count == 0 ? GpuReport.Source.NONE : GpuReport.Source.MOCK, Optional.empty());
    }

    @Test
    void withoutWorkersTheOneInstanceKeepsItsOldNamePortLogsAndPidFile() {
        Config config = config("GPU_MOCK_COUNT", "2");

        List<InstanceSpec> plan = InstanceGroup.plan(config, gpus(2));

        assertThat(plan).singleElement().satisfies(spec -> {
            assertThat(spec.name()).isEqualTo("comfyui");
            assertThat(spec.port()).isEqualTo(config.comfyPort());
            assertThat(spec.gpuIndex()).isEmpty();
            assertThat(spec.logsDir()).isEqualTo(config.logsDir());
            assertThat(spec.pidFile()).isEqualTo(config.home().resolve("comfyui.pid"));
            assertThat(spec.siblingPorts()).isEmpty();
            assertThat(spec.client().baseUri().toString()).isEqualTo("http://127.0.0.1:" + config.comfyPort() + "/");
        });
    }

    @Test
    void autoGivesOneInstancePerGpuEachWithItsOwnPortLogsPidFileAndSessionPrefix() {
        Config config = config("WORKERS", "comfyui:auto");

        List<InstanceSpec> plan = InstanceGroup.plan(config, gpus(3));

        assertThat(plan).extracting(InstanceSpec::name).containsExactly("comfyui-gpu0", "comfyui-gpu1", "comfyui-gpu2");
        for (int i = 0; i < 3; i++) {
            InstanceSpec spec = plan.get(i);
            assertThat(spec.port()).isEqualTo(config.comfyPort() + i);
            assertThat(spec.gpuIndex()).hasValue(i);
            assertThat(spec.logsDir()).isEqualTo(config.logsDir().resolve(spec.name()));
            assertThat(spec.pidFile()).isEqualTo(config.home().resolve(spec.name() + ".pid"));
            assertThat(spec.client().baseUri().getPort()).isEqualTo(spec.port());
            assertThat(spec.siblingPorts()).doesNotContain(spec.port()).hasSize(2);
        }
        assertThat(plan).extracting(InstanceSpec::sessionPrefix).doesNotHaveDuplicates();
    }

    @Test
    void withoutAGpuAutoIsOneCpuInstanceAndACountGivesThatManyCpuInstances() {
        assertThat(InstanceGroup.plan(config("WORKERS", "comfyui:auto"), gpus(0)))
                .singleElement().satisfies(spec -> assertThat(spec.gpuIndex()).isEmpty());
        assertThat(InstanceGroup.plan(config("WORKERS", "comfyui:2"), gpus(0)))
                .extracting(InstanceSpec::gpuIndex).containsExactly(OptionalInt.empty(), OptionalInt.empty());
    }

    @Test
    void moreInstancesThanGpusIsAnErrorThatSaysWhatToSet() {
        assertThatThrownBy(() -> InstanceGroup.plan(config("WORKERS", "comfyui:4"), gpus(2)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("4 instances")
                .hasMessageContaining("2 GPU(s)")
                .hasMessageContaining("WORKERS=comfyui:auto");
    }

    @Test
    void instancePortsThatReachTheManagerPortAreAnError() {
        Config config = config("WORKERS", "comfyui:auto", "COMFYUI_PORT", "20000", "MANAGER_PORT", "20001");

        assertThatThrownBy(() -> InstanceGroup.plan(config, gpus(2)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("MANAGER_PORT 20001")
                .hasMessageContaining("move COMFYUI_PORT or MANAGER_PORT");
    }

    @Test
    void theSessionLogsOfAnInstanceAreFoundByItsName() {
        Config single = config();
        Config several = config("WORKERS", "comfyui:2");

        assertThat(InstanceGroup.logsDir(single, Optional.empty())).isEqualTo(single.logsDir());
        assertThat(InstanceGroup.logsDir(several, Optional.empty())).isEqualTo(several.logsDir().resolve("comfyui-gpu0"));
        assertThat(InstanceGroup.logsDir(several, Optional.of("comfyui-gpu1"))).isEqualTo(several.logsDir().resolve("comfyui-gpu1"));
        assertThatThrownBy(() -> InstanceGroup.logsDir(single, Optional.of("comfyui-gpu1")))
                .hasMessageContaining("WORKERS is not set");
        assertThatThrownBy(() -> InstanceGroup.logsDir(several, Optional.of("../etc")))
                .hasMessageContaining("comfyui-gpu0, comfyui-gpu1, ...");
    }

    @Test
    void aStrayIsKnownByTheComfyUiPortItWasGiven() {
        assertThat(Strays.port(process("python", "main.py", "--listen", "127.0.0.1", "--port", "8190"))).hasValue(8190);
        assertThat(Strays.port(process("python", "main.py", "--port=8191"))).hasValue(8191);
        assertThat(Strays.port(process("python", "main.py"))).isEmpty();
    }

    private static ProcessInfo process(String... arguments) {
        return new ProcessInfo(1, List.of(arguments), String.join(" ", arguments), Optional.empty(), Optional.empty());
    }
}
