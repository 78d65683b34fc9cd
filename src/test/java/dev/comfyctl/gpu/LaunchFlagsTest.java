package dev.comfyctl.gpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class LaunchFlagsTest {

    private static final Gpu RTX_4090 = new Gpu(0, "NVIDIA GeForce RTX 4090", 24564, 23898, "550.54.14");
    private static final Gpu RTX_4060 = new Gpu(1, "NVIDIA GeForce RTX 4060", 8188, 8000, "550.54.14");
    private static final GpuReport ONE_4090 = report(RTX_4090);
    private static final GpuReport NO_GPU = GpuReport.none("nvidia-smi was not found on PATH");
    private static final LaunchFlags.Overrides NONE = LaunchFlags.Overrides.none();

    private static GpuReport report(Gpu... gpus) {
        return new GpuReport(List.of(gpus), GpuReport.Source.NVIDIA_SMI, Optional.empty());
    }

    @Test
    void aLargeGpuGetsGpuOnlyWithoutCudaMallocOnItsDevice() {
        LaunchFlags flags = LaunchFlags.compute(ONE_4090, 0, NONE);

        assertThat(flags.flags()).containsExactly("--gpu-only", "--disable-cuda-malloc", "--cuda-device", "0");
        assertThat(flags.memoryMode()).isEqualTo(MemoryMode.GPU_ONLY);
        assertThat(flags.usesGpu()).isTrue();
        assertThat(flags.explanations()).containsExactly(
                "--gpu-only: NVIDIA GeForce RTX 4090 has 24 GB (24564 MiB, >= 20 GB)",
                "--disable-cuda-malloc: default with a GPU: avoids PyTorch's CUDAAllocatorConfig assertion failure with cudaMallocAsync",
                "--cuda-device 0: GPU 0 (NVIDIA GeForce RTX 4090) is assigned to this instance");
        assertThat(flags.environment()).containsExactly(Map.entry("CUDA_DEVICE_ORDER", "PCI_BUS_ID"));
    }

    @Test
    void theMemoryModeFollowsTheVramOfTheAssignedGpu() {
        LaunchFlags flags = LaunchFlags.compute(report(RTX_4090, RTX_4060), 1, NONE);

        assertThat(flags.flags()).containsExactly("--normalvram", "--disable-cuda-malloc", "--cuda-device", "1");
        assertThat(flags.explanations().get(0)).isEqualTo("--normalvram: NVIDIA GeForce RTX 4060 has 8 GB (8188 MiB, 8-15 GB)");
    }

    @Test
    void a16GbCardReportingLessIsStillHighvram() {
        LaunchFlags flags = LaunchFlags.compute(report(new Gpu(0, "NVIDIA GeForce RTX 4080", 16376, 16000, "550")), 0, NONE);

        assertThat(flags.memoryMode()).isEqualTo(MemoryMode.HIGHVRAM);
        assertThat(flags.explanations().get(0)).isEqualTo("--highvram: NVIDIA GeForce RTX 4080 has 16 GB (16376 MiB, 16-19 GB)");
    }

    @Test
    void withoutAGpuComfyUiRunsOnTheCpuWithNoCudaFlags() {
        LaunchFlags flags = LaunchFlags.compute(NO_GPU, 0, NONE);

        assertThat(flags.flags()).containsExactly("--cpu");
        assertThat(flags.usesGpu()).isFalse();
        assertThat(flags.environment()).isEmpty();
        assertThat(flags.explanations()).containsExactly(
                "--cpu: no GPU detected (see the GPU detection warning)",
                "CUDA malloc: no flag: CPU mode",
                "CUDA device: no flag: CPU mode");
    }

    @Test
    void mockGpusGetFlagsLikeRealOnes() {
        LaunchFlags flags = LaunchFlags.compute(GpuDetector.mock(2, 24576, "Mock GPU").detect(), 1, NONE);

        assertThat(flags.flags()).containsExactly("--gpu-only", "--disable-cuda-malloc", "--cuda-device", "1");
    }

    @Test
    void aGpuWithUnknownVramGetsComfyUisDefaultMode() {
        LaunchFlags flags = LaunchFlags.compute(report(new Gpu(0, "NVIDIA GB10", Gpu.UNKNOWN, Gpu.UNKNOWN, "580")), 0, NONE);

        assertThat(flags.memoryMode()).isEqualTo(MemoryMode.NORMALVRAM);
        assertThat(flags.explanations().get(0)).isEqualTo("--normalvram: NVIDIA GB10 did not report its VRAM size; ComfyUI's default mode");
    }

    @Test
    void aForcedMemoryModeReplacesTheAutomaticOne() {
        LaunchFlags flags = LaunchFlags.compute(ONE_4090, 0, NONE.withMemoryMode(MemoryMode.LOWVRAM));

        assertThat(flags.flags()).containsExactly("--lowvram", "--disable-cuda-malloc", "--cuda-device", "0");
        assertThat(flags.explanations().get(0)).isEqualTo("--lowvram: configured explicitly");
    }

    @Test
    void forcingCpuModeOnAGpuMachineDropsTheCudaFlags() {
        LaunchFlags flags = LaunchFlags.compute(ONE_4090, 0, NONE.withMemoryMode(MemoryMode.CPU).withCudaDevice(0));

        assertThat(flags.flags()).containsExactly("--cpu");
        assertThat(flags.explanations()).contains("CUDA device: no flag: CPU mode; configured device 0 ignored");
    }

    @Test
    void forcingAGpuModeWithoutADetectedGpuIsHonouredWithAWarning() {
        LaunchFlags flags = LaunchFlags.compute(NO_GPU, 0, NONE.withMemoryMode(MemoryMode.HIGHVRAM));

        assertThat(flags.flags()).containsExactly("--highvram", "--disable-cuda-malloc", "--cuda-device", "0");
        assertThat(flags.explanations()).containsExactly(
                "--highvram: configured explicitly; no GPU was detected, ComfyUI may fail to start",
                "--disable-cuda-malloc: default with a GPU: avoids PyTorch's CUDAAllocatorConfig assertion failure with cudaMallocAsync",
                "--cuda-device 0: GPU 0 is assigned to this instance (no GPU was detected to confirm it)");
    }

    @Test
    void aMemoryFlagInTheExtraArgumentsWinsAndTheAutomaticOneIsLeftOut() {
        LaunchFlags flags = LaunchFlags.compute(ONE_4090, 0, NONE.withExtraArgs(List.of("--lowvram", "--preview-method", "auto")));

        assertThat(flags.flags()).containsExactly("--disable-cuda-malloc", "--cuda-device", "0", "--lowvram", "--preview-method", "auto");
        assertThat(flags.memoryMode()).isEqualTo(MemoryMode.LOWVRAM);
        assertThat(flags.explanations().get(0)).isEqualTo("--lowvram: from the extra arguments, which take precedence; "
                + "automatic choice not added (--gpu-only: NVIDIA GeForce RTX 4090 has 24 GB (24564 MiB, >= 20 GB))");
    }

    @Test
    void cpuInTheExtraArgumentsAlsoDropsTheAutomaticCudaFlags() {
        LaunchFlags flags = LaunchFlags.compute(ONE_4090, 0, NONE.withExtraArgs(List.of("--cpu")));

        assertThat(flags.flags()).containsExactly("--cpu");
        assertThat(flags.usesGpu()).isFalse();
    }

    @Test
    void aForcedModeAgreeingWithTheExtraArgumentsIsNotRepeated() {
        LaunchFlags flags = LaunchFlags.compute(ONE_4090, 0, NONE.withMemoryMode(MemoryMode.HIGHVRAM).withExtraArgs(List.of("--highvram")));

        assertThat(flags.flags()).containsOnlyOnce("--highvram");
    }

    @Test
    void aForcedModeContradictingTheExtraArgumentsIsRejected() {
        assertThatThrownBy(() -> LaunchFlags.compute(ONE_4090, 0, NONE.withMemoryMode(MemoryMode.HIGHVRAM).withExtraArgs(List.of("--novram"))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("memory mode highvram is configured but the extra arguments contain --novram; remove one of them");
    }

    @Test
    void twoMemoryFlagsInTheExtraArgumentsAreRejectedNamingBoth() {
        assertThatThrownBy(() -> LaunchFlags.compute(ONE_4090, 0, NONE.withExtraArgs(List.of("--gpu-only", "--verbose", "--highvram"))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("the extra arguments contain --gpu-only and --highvram, but ComfyUI accepts only one memory mode flag; keep one");
    }

    @Test
    void theSameMemoryFlagTwiceIsNoConflict() {
        LaunchFlags flags = LaunchFlags.compute(ONE_4090, 0, NONE.withExtraArgs(List.of("--lowvram", "--lowvram")));

        assertThat(flags.memoryMode()).isEqualTo(MemoryMode.LOWVRAM);
    }

    @Test
    void cudaMallocInTheExtraArgumentsReplacesTheAutomaticDisable() {
        LaunchFlags flags = LaunchFlags.compute(ONE_4090, 0, NONE.withExtraArgs(List.of("--cuda-malloc")));

        assertThat(flags.flags()).containsExactly("--gpu-only", "--cuda-device", "0", "--cuda-malloc");
        assertThat(flags.explanations().get(1))
                .isEqualTo("--cuda-malloc: from the extra arguments, which take precedence; no automatic CUDA malloc flag added");
    }

    @Test
    void bothCudaMallocFlagsInTheExtraArgumentsAreRejected() {
        assertThatThrownBy(() -> LaunchFlags.compute(ONE_4090, 0, NONE.withExtraArgs(List.of("--disable-cuda-malloc", "--cuda-malloc"))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("the extra arguments contain --disable-cuda-malloc and --cuda-malloc, which contradict each other; keep one");
    }

    @Test
    void disableCudaMallocCanBeTurnedOffOrForcedOn() {
        assertThat(LaunchFlags.compute(ONE_4090, 0, NONE.withDisableCudaMalloc(false)).flags())
                .containsExactly("--gpu-only", "--cuda-device", "0");
        assertThat(LaunchFlags.compute(NO_GPU, 0, NONE.withDisableCudaMalloc(true)).flags())
                .containsExactly("--cpu", "--disable-cuda-malloc");
    }

    @Test
    void aCudaMallocSettingContradictingTheExtraArgumentsIsRejected() {
        assertThatThrownBy(() -> LaunchFlags.compute(ONE_4090, 0, NONE.withDisableCudaMalloc(true).withExtraArgs(List.of("--cuda-malloc"))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("disable-cuda-malloc is configured true but the extra arguments contain --cuda-malloc; remove one of them");
    }

    @Test
    void theCudaDeviceCanBeOverridden() {
        LaunchFlags flags = LaunchFlags.compute(ONE_4090, 0, NONE.withCudaDevice(3));

        assertThat(flags.flags()).containsExactly("--gpu-only", "--disable-cuda-malloc", "--cuda-device", "3");
        assertThat(flags.explanations().get(2)).isEqualTo("--cuda-device 3: configured explicitly");
    }

    @Test
    void aCudaDeviceInTheExtraArgumentsWinsInEitherSpelling() {
        assertThat(LaunchFlags.compute(ONE_4090, 0, NONE.withExtraArgs(List.of("--cuda-device", "1"))).flags())
                .containsExactly("--gpu-only", "--disable-cuda-malloc", "--cuda-device", "1");
        assertThat(LaunchFlags.compute(ONE_4090, 0, NONE.withExtraArgs(List.of("--cuda-device=1"))).flags())
                .containsExactly("--gpu-only", "--disable-cuda-malloc", "--cuda-device=1");
    }

    @Test
    void malformedOrRepeatedCudaDevicesInTheExtraArgumentsAreRejected() {
        assertThatThrownBy(() -> LaunchFlags.compute(ONE_4090, 0, NONE.withExtraArgs(List.of("--cuda-device"))))
                .hasMessage("--cuda-device in the extra arguments has no value");
        assertThatThrownBy(() -> LaunchFlags.compute(ONE_4090, 0, NONE.withExtraArgs(List.of("--cuda-device", "gpu1"))))
                .hasMessage("--cuda-device in the extra arguments needs a GPU index (0, 1, ...), got 'gpu1'");
        assertThatThrownBy(() -> LaunchFlags.compute(ONE_4090, 0, NONE.withExtraArgs(List.of("--cuda-device", "0", "--cuda-device=1"))))
                .hasMessage("the extra arguments contain --cuda-device 2 times (0, 1); keep one");
        assertThatThrownBy(() -> LaunchFlags.compute(ONE_4090, 0, NONE.withCudaDevice(0).withExtraArgs(List.of("--cuda-device", "1"))))
                .hasMessage("CUDA device 0 is configured but the extra arguments contain --cuda-device 1; remove one of them");
    }

    @Test
    void aGpuIndexThatWasNotDetectedIsRejectedListingTheDetectedOnes() {
        assertThatThrownBy(() -> LaunchFlags.compute(report(RTX_4090, RTX_4060), 2, NONE))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("GPU 2 is not among the detected GPUs (0 NVIDIA GeForce RTX 4090, 1 NVIDIA GeForce RTX 4060); "
                        + "assign one of those to the instance");
    }
}
