package dev.comfyctl.gpu;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.stream.Collectors;

/**
 * ComfyUI's GPU-related command-line flags for one instance, with the reason for each choice.
 *
 * <p>Computed from a {@link GpuReport}, the GPU index assigned to the instance, and {@link Overrides}.
 * The result never holds two mutually exclusive flags, which would make ComfyUI exit at once: a flag
 * the user put in the extra arguments wins over the automatic one, which is then left out and the
 * decision says so. Contradictions among the user's own settings are errors, not guesses.
 */
public final class LaunchFlags {

    static final String DISABLE_CUDA_MALLOC = "--disable-cuda-malloc";
    static final String CUDA_MALLOC = "--cuda-malloc";
    static final String CUDA_DEVICE = "--cuda-device";

    /** What a {@link Decision} is about. */
    public enum Topic {
        MEMORY_MODE("memory mode"),
        CUDA_MALLOC("CUDA malloc"),
        CUDA_DEVICE("CUDA device");

        private final String label;

        Topic(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    /**
     * One choice and why it was made.
     *
     * @param topic  what was decided
     * @param flag   the flag (with its value) that ends up in {@link #flags()}, empty when none does
     * @param reason why, for operators
     */
    public record Decision(Topic topic, Optional<String> flag, String reason) {
        public Decision {
            Objects.requireNonNull(topic, "topic");
            Objects.requireNonNull(flag, "flag");
            Objects.requireNonNull(reason, "reason");
        }

        /** E.g. {@code --gpu-only: NVIDIA GeForce RTX 4090 has 24 GB (24564 MiB, >= 20 GB)}. */
        @Override
        public String toString() {
            return flag.orElse(topic.label()) + ": " + reason;
        }
    }

    /**
     * The user's settings; each empty one means "decide automatically".
     *
     * @param memoryMode        a forced memory mode
     * @param disableCudaMalloc whether to pass {@code --disable-cuda-malloc}
     * @param cudaDevice        the {@code --cuda-device} value, instead of the assigned GPU index
     * @param extraArgs         arguments passed to ComfyUI as they are, after the computed ones
     */
    public record Overrides(Optional<MemoryMode> memoryMode, Optional<Boolean> disableCudaMalloc, OptionalInt cudaDevice,
                            List<String> extraArgs) {
        public Overrides {
            Objects.requireNonNull(memoryMode, "memoryMode");
            Objects.requireNonNull(disableCudaMalloc, "disableCudaMalloc");
            Objects.requireNonNull(cudaDevice, "cudaDevice");
            extraArgs = List.copyOf(extraArgs);
        }

        /** Everything automatic, no extra arguments. */
        public static Overrides none() {
            return new Overrides(Optional.empty(), Optional.empty(), OptionalInt.empty(), List.of());
        }

        public Overrides withMemoryMode(MemoryMode mode) {
            return new Overrides(Optional.of(mode), disableCudaMalloc, cudaDevice, extraArgs);
        }

        public Overrides withDisableCudaMalloc(boolean disable) {
            return new Overrides(memoryMode, Optional.of(disable), cudaDevice, extraArgs);
        }

        public Overrides withCudaDevice(int device) {
            if (device < 0) {
                throw new IllegalArgumentException("cudaDevice < 0: " + device);
            }
            return new Overrides(memoryMode, disableCudaMalloc, OptionalInt.of(device), extraArgs);
        }

        public Overrides withExtraArgs(List<String> args) {
            return new Overrides(memoryMode, disableCudaMalloc, cudaDevice, args);
        }
    }

    private final MemoryMode memoryMode;
    private final List<String> flags;
    private final List<Decision> decisions;

    private LaunchFlags(MemoryMode memoryMode, List<String> flags, List<Decision> decisions) {
        this.memoryMode = memoryMode;
        this.flags = List.copyOf(flags);
        this.decisions = List.copyOf(decisions);
    }

    /**
     * Computes the flags for the instance that was assigned GPU {@code gpuIndex}.
     *
     * @param report    what GPU detection found; without GPUs the instance runs in CPU mode unless forced
     * @param gpuIndex  nvidia-smi index of the GPU assigned to the instance; ignored when the report is empty
     * @param overrides the user's settings
     * @throws IllegalArgumentException when the report has GPUs but not {@code gpuIndex}; when the extra
     *                                  arguments hold two exclusive flags or a malformed {@code --cuda-device};
     *                                  or when an override contradicts the extra arguments. The message names both sides.
     */
    public static LaunchFlags compute(GpuReport report, int gpuIndex, Overrides overrides) {
        Objects.requireNonNull(report, "report");
        Objects.requireNonNull(overrides, "overrides");
        if (gpuIndex < 0) {
            throw new IllegalArgumentException("gpuIndex < 0: " + gpuIndex);
        }
        Optional<Gpu> gpu = report.gpu(gpuIndex);
        if (!report.isEmpty() && gpu.isEmpty()) {
            throw new IllegalArgumentException("GPU " + gpuIndex + " is not among the detected GPUs ("
                    + report.gpus().stream().map(g -> g.index() + " " + g.name()).collect(Collectors.joining(", "))
                    + "); assign one of those to the instance");
        }
        ExtraArgs user = ExtraArgs.scan(overrides.extraArgs());
        List<String> flags = new ArrayList<>();
        List<Decision> decisions = new ArrayList<>();

        MemoryMode mode = memoryMode(report, gpu, overrides, user, flags, decisions);
        boolean usesGpu = mode != MemoryMode.CPU;
        cudaMalloc(usesGpu, overrides, user, flags, decisions);
        cudaDevice(usesGpu, gpuIndex, gpu, overrides, user, flags, decisions);

        flags.addAll(overrides.extraArgs());
        return new LaunchFlags(mode, flags, decisions);
    }

    /** The arguments to put after {@code main.py}: computed flags first, then the extra arguments. */
    public List<String> flags() {
        return flags;
    }

    /** The memory mode ComfyUI will run in, whichever side chose it. */
    public MemoryMode memoryMode() {
        return memoryMode;
    }

    public boolean usesGpu() {
        return memoryMode != MemoryMode.CPU;
    }

    /** One decision per topic, in the order memory mode, CUDA malloc, CUDA device. */
    public List<Decision> decisions() {
        return decisions;
    }

    /** The decisions as lines for operators, e.g. {@code --cuda-device 0: GPU 0 (...) is assigned to this instance}. */
    public List<String> explanations() {
        return decisions.stream().map(Decision::toString).toList();
    }

    /**
     * Environment variables ComfyUI needs for these flags. With a GPU, {@code CUDA_DEVICE_ORDER=PCI_BUS_ID}:
     * {@code --cuda-device} takes nvidia-smi's index (PCI bus order) while CUDA numbers GPUs fastest first
     * by default, which on a machine with two different GPU models would select the wrong one.
     */
    public Map<String, String> environment() {
        return usesGpu() ? Map.of("CUDA_DEVICE_ORDER", "PCI_BUS_ID") : Map.of();
    }

    private static MemoryMode memoryMode(GpuReport report, Optional<Gpu> gpu, Overrides overrides, ExtraArgs user,
                                         List<String> flags, List<Decision> decisions) {
        Decision automatic = automaticMemoryMode(report, gpu);
        if (user.memoryFlag().isPresent()) {
            String userFlag = user.memoryFlag().get();
            MemoryMode userMode = MemoryMode.fromFlag(userFlag).orElseThrow();
            Optional<MemoryMode> forced = overrides.memoryMode();
            if (forced.isPresent() && forced.get() != userMode) {
                throw new IllegalArgumentException("memory mode " + forced.get().userName() + " is configured but the extra arguments contain "
                        + userFlag + "; remove one of them");
            }
            decisions.add(new Decision(Topic.MEMORY_MODE, Optional.of(userFlag),
                    "from the extra arguments, which take precedence; automatic choice not added (" + automatic + ")"));
            return userMode;
        }
        if (overrides.memoryMode().isPresent()) {
            MemoryMode forced = overrides.memoryMode().get();
            flags.add(forced.flag());
            String unconfirmed = forced != MemoryMode.CPU && report.isEmpty() ? "; no GPU was detected, ComfyUI may fail to start" : "";
            decisions.add(new Decision(Topic.MEMORY_MODE, Optional.of(forced.flag()), "configured explicitly" + unconfirmed));
            return forced;
        }
        flags.add(automatic.flag().orElseThrow());
        decisions.add(automatic);
        return MemoryMode.fromFlag(automatic.flag().orElseThrow()).orElseThrow();
    }

    private static Decision automaticMemoryMode(GpuReport report, Optional<Gpu> gpu) {
        if (gpu.isEmpty()) {
            String why = report.warning().isPresent() ? "no GPU detected (see the GPU detection warning)" : "no GPU detected";
            return new Decision(Topic.MEMORY_MODE, Optional.of(MemoryMode.CPU.flag()), why);
        }
        Gpu g = gpu.get();
        if (!g.hasKnownVram()) {
            return new Decision(Topic.MEMORY_MODE, Optional.of(MemoryMode.NORMALVRAM.flag()),
                    g.name() + " did not report its VRAM size; ComfyUI's default mode");
        }
        MemoryMode mode = MemoryMode.forVram(g.vramTotalMib());
        return new Decision(Topic.MEMORY_MODE, Optional.of(mode.flag()), g.name() + " has " + MemoryMode.marketedGigabytes(g.vramTotalMib())
                + " GB (" + g.vramTotalMib() + " MiB, " + mode.vramBand() + ")");
    }

    private static void cudaMalloc(boolean usesGpu, Overrides overrides, ExtraArgs user, List<String> flags, List<Decision> decisions) {
        if (user.mallocFlag().isPresent()) {
            String userFlag = user.mallocFlag().get();
            boolean userDisables = userFlag.equals(DISABLE_CUDA_MALLOC);
            Optional<Boolean> configured = overrides.disableCudaMalloc();
            if (configured.isPresent() && configured.get() != userDisables) {
                throw new IllegalArgumentException("disable-cuda-malloc is configured " + configured.get() + " but the extra arguments contain "
                        + userFlag + "; remove one of them");
            }
            decisions.add(new Decision(Topic.CUDA_MALLOC, Optional.of(userFlag),
                    "from the extra arguments, which take precedence; no automatic CUDA malloc flag added"));
        } else if (overrides.disableCudaMalloc().isPresent()) {
            if (overrides.disableCudaMalloc().get()) {
                flags.add(DISABLE_CUDA_MALLOC);
                decisions.add(new Decision(Topic.CUDA_MALLOC, Optional.of(DISABLE_CUDA_MALLOC), "configured explicitly"));
            } else {
                decisions.add(new Decision(Topic.CUDA_MALLOC, Optional.empty(), "no flag: disable-cuda-malloc configured false"));
            }
        } else if (usesGpu) {
            flags.add(DISABLE_CUDA_MALLOC);
            decisions.add(new Decision(Topic.CUDA_MALLOC, Optional.of(DISABLE_CUDA_MALLOC),
                    "default with a GPU: avoids PyTorch's CUDAAllocatorConfig assertion failure with cudaMallocAsync"));
        } else {
            decisions.add(new Decision(Topic.CUDA_MALLOC, Optional.empty(), "no flag: CPU mode"));
        }
    }

    private static void cudaDevice(boolean usesGpu, int gpuIndex, Optional<Gpu> gpu, Overrides overrides, ExtraArgs user,
                                   List<String> flags, List<Decision> decisions) {
        if (user.cudaDevice().isPresent()) {
            int userDevice = user.cudaDevice().getAsInt();
            if (overrides.cudaDevice().isPresent() && overrides.cudaDevice().getAsInt() != userDevice) {
                throw new IllegalArgumentException("CUDA device " + overrides.cudaDevice().getAsInt()
                        + " is configured but the extra arguments contain " + CUDA_DEVICE + " " + userDevice + "; remove one of them");
            }
            decisions.add(new Decision(Topic.CUDA_DEVICE, Optional.of(CUDA_DEVICE + " " + userDevice),
                    "from the extra arguments, which take precedence; no automatic " + CUDA_DEVICE + " added"));
        } else if (!usesGpu) {
            String ignored = overrides.cudaDevice().isPresent() ? "; configured device " + overrides.cudaDevice().getAsInt() + " ignored" : "";
            decisions.add(new Decision(Topic.CUDA_DEVICE, Optional.empty(), "no flag: CPU mode" + ignored));
        } else if (overrides.cudaDevice().isPresent()) {
            int device = overrides.cudaDevice().getAsInt();
            flags.add(CUDA_DEVICE);
            flags.add(Integer.toString(device));
            decisions.add(new Decision(Topic.CUDA_DEVICE, Optional.of(CUDA_DEVICE + " " + device), "configured explicitly"));
        } else {
            flags.add(CUDA_DEVICE);
            flags.add(Integer.toString(gpuIndex));
            String reason = gpu.map(g -> "GPU " + gpuIndex + " (" + g.name() + ") is assigned to this instance")
                    .orElse("GPU " + gpuIndex + " is assigned to this instance (no GPU was detected to confirm it)");
            decisions.add(new Decision(Topic.CUDA_DEVICE, Optional.of(CUDA_DEVICE + " " + gpuIndex), reason));
        }
    }
}
