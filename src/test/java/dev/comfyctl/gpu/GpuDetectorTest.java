package dev.comfyctl.gpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GpuDetectorTest {

    @TempDir
    Path tmp;
    Path bin;

    @BeforeEach
    void installFake() throws IOException {
        bin = tmp.resolve("bin");
        FakeNvidiaSmi.install(bin);
    }

    private GpuDetector detector(GpuDetector.Mode mode, Map<String, String> vars) {
        return GpuDetector.nvidiaSmi(mode, FakeNvidiaSmi.environment(bin, vars), GpuDetector.DEFAULT_TIMEOUT);
    }

    @Test
    void detectsOneGpuWithTheDocumentedQuery() throws IOException {
        Path argsFile = tmp.resolve("args");
        GpuReport report = detector(GpuDetector.Mode.AUTO, Map.of("FAKE_NVIDIA_SMI_ARGS_FILE", argsFile.toString())).detect();

        assertThat(report.source()).isEqualTo(GpuReport.Source.NVIDIA_SMI);
        assertThat(report.warning()).isEmpty();
        assertThat(report.count()).isEqualTo(1);
        assertThat(report.gpus()).containsExactly(new Gpu(0, "NVIDIA GeForce RTX 4090", 24564, 23898, "550.54.14"));
        assertThat(Files.readString(argsFile).strip()).isEqualTo(
                "--query-gpu=index,name,memory.total,memory.free,driver_version --format=csv,noheader,nounits");
    }

    @Test
    void detectsTwoGpusInIndexOrderWithTheirDriver() {
        GpuReport report = detector(GpuDetector.Mode.NVIDIA, Map.of(
                "FAKE_GPUS", "NVIDIA GeForce RTX 4090:24564:1000;NVIDIA GeForce RTX 4060:8188:8000",
                "FAKE_NVIDIA_DRIVER", "570.86.10")).detect();

        assertThat(report.warning()).isEmpty();
        assertThat(report.gpus()).containsExactly(
                new Gpu(0, "NVIDIA GeForce RTX 4090", 24564, 1000, "570.86.10"),
                new Gpu(1, "NVIDIA GeForce RTX 4060", 8188, 8000, "570.86.10"));
        assertThat(report.gpu(1)).map(Gpu::name).contains("NVIDIA GeForce RTX 4060");
        assertThat(report.gpu(2)).isEmpty();
    }

    @Test
    void keepsCommasInsideGpuNamesBecauseNvidiaSmiNeverQuotes() {
        GpuReport report = detector(GpuDetector.Mode.AUTO, Map.of("FAKE_GPUS", "Tesla T4, PCIe:15360:15000")).detect();

        assertThat(report.gpus()).singleElement().extracting(Gpu::name).isEqualTo("Tesla T4, PCIe");
    }

    @Test
    void readsNotAvailableFiguresAsUnknown() {
        GpuReport report = detector(GpuDetector.Mode.AUTO, Map.of(
                "FAKE_NVIDIA_SMI_OUTPUT", "0, NVIDIA GB10, [N/A], [N/A], [N/A]")).detect();

        assertThat(report.warning()).isEmpty();
        Gpu gpu = report.gpus().get(0);
        assertThat(gpu).isEqualTo(new Gpu(0, "NVIDIA GB10", Gpu.UNKNOWN, Gpu.UNKNOWN, "unknown"));
        assertThat(gpu.hasKnownVram()).isFalse();
    }

    @Test
    void reportsNoGpuAndExplainsCpuModeWhenNvidiaSmiIsNotOnPath() throws IOException {
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        GpuReport report = GpuDetector.nvidiaSmi(GpuDetector.Mode.AUTO, Map.of("PATH", empty.toString()), Duration.ofSeconds(5)).detect();

        assertThat(report.isEmpty()).isTrue();
        assertThat(report.source()).isEqualTo(GpuReport.Source.NONE);
        assertThat(report.warning()).hasValueSatisfying(w -> assertThat(w)
                .contains("nvidia-smi was not found on PATH (" + empty + ")")
                .contains("running ComfyUI in CPU mode")
                .doesNotContain("requires"));
    }

    @Test
    void nvidiaModeWarningSaysNvidiaSmiWasRequired() throws IOException {
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        GpuReport report = GpuDetector.nvidiaSmi(GpuDetector.Mode.NVIDIA, Map.of("PATH", empty.toString()), Duration.ofSeconds(5)).detect();

        assertThat(report.isEmpty()).isTrue();
        assertThat(report.warning()).hasValueSatisfying(w -> assertThat(w)
                .startsWith("GPU mode 'nvidia' requires a working nvidia-smi, but nvidia-smi was not found on PATH")
                .contains("running ComfyUI in CPU mode"));
    }

    @Test
    void reportsTheDriverErrorWhenNvidiaSmiExitsWithStatus9() {
        GpuReport report = detector(GpuDetector.Mode.AUTO, Map.of("FAKE_NVIDIA_SMI_FAIL", "1")).detect();

        assertThat(report.isEmpty()).isTrue();
        assertThat(report.source()).isEqualTo(GpuReport.Source.NONE);
        assertThat(report.warning()).hasValueSatisfying(w -> assertThat(w)
                .contains("exited with status 9 (the NVIDIA driver is not loaded or not answering)")
                .contains("couldn't communicate with the NVIDIA driver")
                .endsWith("no GPU detected, running ComfyUI in CPU mode."));
    }

    @Test
    void reportsNoDevicesFoundAsAFailureWithItsMessage() {
        GpuReport report = detector(GpuDetector.Mode.AUTO, Map.of("FAKE_GPUS", "")).detect();

        assertThat(report.isEmpty()).isTrue();
        assertThat(report.warning()).hasValueSatisfying(w -> assertThat(w)
                .contains("exited with status 6: 'No devices were found'"));
    }

    @Test
    void killsAHangingNvidiaSmiAtTheTimeoutAndSaysSo() {
        GpuDetector detector = GpuDetector.nvidiaSmi(GpuDetector.Mode.AUTO,
                FakeNvidiaSmi.environment(bin, Map.of("FAKE_NVIDIA_SMI_HANG", "1")), Duration.ofMillis(300));

        long start = System.nanoTime();
        GpuReport report = detector.detect();
        Duration elapsed = Duration.ofNanos(System.nanoTime() - start);

        assertThat(elapsed).isLessThan(Duration.ofSeconds(4));
        assertThat(report.isEmpty()).isTrue();
        assertThat(report.warning()).hasValueSatisfying(w -> assertThat(w)
                .contains("did not finish within 300 ms and was killed")
                .contains("running ComfyUI in CPU mode"));
    }

    @Test
    void reportsUnreadableOutputAsCpuModeQuotingIt() {
        GpuReport report = detector(GpuDetector.Mode.AUTO, Map.of("FAKE_NVIDIA_SMI_OUTPUT", "Segmentation fault\ncore dumped")).detect();

        assertThat(report.isEmpty()).isTrue();
        assertThat(report.warning()).hasValueSatisfying(w -> assertThat(w)
                .contains("printed output comfyctl cannot read: 'Segmentation fault | core dumped'")
                .contains("running ComfyUI in CPU mode"));
    }

    @Test
    void keepsReadableGpusAndWarnsAboutTheUnreadableLines() {
        GpuReport report = detector(GpuDetector.Mode.AUTO, Map.of("FAKE_NVIDIA_SMI_OUTPUT",
                "0, NVIDIA GeForce RTX 3090, 24576, 24000, 550.54.14\n1, NVIDIA GeForce RTX 3090, ERR!, ERR!, 550.54.14")).detect();

        assertThat(report.gpus()).extracting(Gpu::index).containsExactly(0);
        assertThat(report.warning()).hasValueSatisfying(w -> assertThat(w)
                .startsWith("ignored 1 line(s) of nvidia-smi output")
                .contains("ERR!"));
    }

    @Test
    void mockModeReportsTheConfiguredGpusWithoutRunningAnything() {
        GpuDetector detector = GpuDetector.mock(2, 24576, "Mock GPU");

        GpuReport report = detector.detect();

        assertThat(report.source()).isEqualTo(GpuReport.Source.MOCK);
        assertThat(report.warning()).isEmpty();
        assertThat(report.gpus()).containsExactly(
                new Gpu(0, "Mock GPU", 24576, 24576, "mock"),
                new Gpu(1, "Mock GPU", 24576, 24576, "mock"));
        assertThat(detector.nvidiaSmiPath()).isEmpty();
        assertThat(detector.computeApps()).isEmpty();
    }

    @Test
    void mockModeRejectsNonsenseParameters() {
        assertThatThrownBy(() -> GpuDetector.mock(-1, 1024, "x")).hasMessage("count < 0: -1");
        assertThatThrownBy(() -> GpuDetector.mock(1, 0, "x")).hasMessage("vramMib <= 0: 0");
        assertThatThrownBy(() -> GpuDetector.mock(1, 1024, " ")).hasMessage("mock GPU name is blank");
    }

    @Test
    void cpuModeReportsNoGpuAndNoWarning() {
        GpuReport report = GpuDetector.cpu().detect();

        assertThat(report).isEqualTo(new GpuReport(List.of(), GpuReport.Source.NONE, Optional.empty()));
        assertThat(GpuDetector.cpu().computeApps()).isEmpty();
    }

    @Test
    void findsNvidiaSmiOnTheGivenPathNotTheJvms() {
        assertThat(detector(GpuDetector.Mode.AUTO, Map.of()).nvidiaSmiPath()).contains(bin.resolve("nvidia-smi"));
    }

    @Test
    void listsTheProcessesHoldingVram() throws IOException {
        Path argsFile = tmp.resolve("args");
        GpuDetector detector = detector(GpuDetector.Mode.AUTO, Map.of(
                "FAKE_COMPUTE_APPS", "4242:20480;4343:[N/A]", "FAKE_NVIDIA_SMI_ARGS_FILE", argsFile.toString()));

        assertThat(detector.computeApps()).containsExactly(new GpuProcess(4242, 20480), new GpuProcess(4343, Gpu.UNKNOWN));
        assertThat(Files.readString(argsFile).strip()).isEqualTo("--query-compute-apps=pid,used_memory --format=csv,noheader,nounits");
    }

    @Test
    void listsNoProcessesWhenNothingHoldsVram() {
        assertThat(detector(GpuDetector.Mode.AUTO, Map.of()).computeApps()).isEmpty();
        assertThat(detector(GpuDetector.Mode.AUTO, Map.of("FAKE_NVIDIA_SMI_OUTPUT", "No running processes found")).computeApps()).isEmpty();
    }

    @Test
    void listingProcessesFailsLoudlyRatherThanClaimingVramWasReleased() throws IOException {
        assertThatThrownBy(() -> detector(GpuDetector.Mode.AUTO, Map.of("FAKE_NVIDIA_SMI_FAIL", "1")).computeApps())
                .isInstanceOf(GpuQueryException.class)
                .hasMessageContaining("cannot list GPU processes")
                .hasMessageContaining("exited with status 9");
        assertThatThrownBy(() -> detector(GpuDetector.Mode.AUTO, Map.of("FAKE_NVIDIA_SMI_OUTPUT", "garbage")).computeApps())
                .isInstanceOf(GpuQueryException.class)
                .hasMessageContaining("cannot read: 'garbage'");
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        assertThatThrownBy(() -> GpuDetector.nvidiaSmi(GpuDetector.Mode.AUTO, Map.of("PATH", empty.toString()), Duration.ofSeconds(1)).computeApps())
                .isInstanceOf(GpuQueryException.class)
                .hasMessageContaining("nvidia-smi was not found on PATH");
    }

    @Test
    void modeNamesAreCaseInsensitiveAndUnknownOnesListTheValidModes() {
        assertThat(GpuDetector.Mode.fromName(" Nvidia ")).isEqualTo(GpuDetector.Mode.NVIDIA);
        assertThatThrownBy(() -> GpuDetector.Mode.fromName("cuda"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("unknown GPU mode 'cuda'; valid modes: auto, nvidia, mock, cpu");
    }

    @Test
    void nvidiaSmiDetectionRejectsOtherModesAndNonPositiveTimeouts() {
        assertThatThrownBy(() -> GpuDetector.nvidiaSmi(GpuDetector.Mode.MOCK, Map.of(), Duration.ofSeconds(1)))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> GpuDetector.nvidiaSmi(GpuDetector.Mode.AUTO, Map.of(), Duration.ZERO))
                .hasMessageContaining("timeout <= 0");
    }
}
