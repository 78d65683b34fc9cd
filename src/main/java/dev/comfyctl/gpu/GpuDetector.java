package dev.comfyctl.gpu;

import dev.comfyctl.process.CommandRunner;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.stream.IntStream;

/**
 * Finds the machine's GPUs, or pretends to, according to a {@link Mode}.
 *
 * <p>{@link #detect()} never throws: whatever goes wrong with nvidia-smi (missing, failing, hanging,
 * unreadable) becomes a {@link GpuReport} without GPUs whose warning says what happened and that
 * ComfyUI will run in CPU mode. nvidia-smi is looked up on the {@code PATH} of the environment given
 * here, not the JVM's, and runs with exactly that environment, so a caller can put a fake first on PATH.
 * Instances are immutable and thread-safe.
 */
public final class GpuDetector {

    /** How long nvidia-smi may take unless told otherwise; a healthy one answers in well under a second. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(5);

    static final String GPU_QUERY = "--query-gpu=index,name,memory.total,memory.free,driver_version";
    static final String APPS_QUERY = "--query-compute-apps=pid,used_memory";
    static final String CSV_FORMAT = "--format=csv,noheader,nounits";

    private static final String CPU_CONSEQUENCE = "running ComfyUI in CPU mode";
    private static final int MAX_QUOTED_OUTPUT = 300;

    /** Detection modes. */
    public enum Mode {
        /** nvidia-smi if it is on PATH, else no GPU with a warning. */
        AUTO,
        /** Like {@link #AUTO}, but the warning says nvidia-smi was required. */
        NVIDIA,
        /** Configured fake GPUs; nothing is run. */
        MOCK,
        /** No GPU, on purpose: no warning. */
        CPU;

        /**
         * Parses {@code auto}, {@code nvidia}, {@code mock} or {@code cpu}, case-insensitive.
         *
         * @throws IllegalArgumentException naming the valid modes
         */
        public static Mode fromName(String name) {
            String wanted = name == null ? "" : name.trim().toUpperCase(Locale.ROOT);
            for (Mode mode : values()) {
                if (mode.name().equals(wanted)) {
                    return mode;
                }
            }
            throw new IllegalArgumentException("unknown GPU mode '" + name + "'; valid modes: auto, nvidia, mock, cpu");
        }
    }

    private final Mode mode;
    private final Map<String, String> environment;
    private final Duration timeout;
    private final GpuReport mockReport;

    private GpuDetector(Mode mode, Map<String, String> environment, Duration timeout, GpuReport mockReport) {
        this.mode = mode;
        this.environment = Map.copyOf(environment);
        this.timeout = timeout;
        this.mockReport = mockReport;
    }

    /**
     * Detection with nvidia-smi: {@link Mode#AUTO} or {@link Mode#NVIDIA}.
     *
     * @param environment the environment nvidia-smi runs with; its {@code PATH} is where nvidia-smi is looked for
     * @param timeout     how long nvidia-smi may run before it is killed
     * @throws IllegalArgumentException when {@code mode} is not AUTO or NVIDIA, or the timeout is not positive
     */
    public static GpuDetector nvidiaSmi(Mode mode, Map<String, String> environment, Duration timeout) {
        Objects.requireNonNull(environment, "environment");
        if (mode != Mode.AUTO && mode != Mode.NVIDIA) {
            throw new IllegalArgumentException("mode must be AUTO or NVIDIA for nvidia-smi detection: " + mode);
        }
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout <= 0: " + timeout);
        }
        return new GpuDetector(mode, environment, timeout, null);
    }

    /** {@link Mode#AUTO} with this JVM's environment and {@link #DEFAULT_TIMEOUT}. */
    public static GpuDetector auto() {
        return nvidiaSmi(Mode.AUTO, System.getenv(), DEFAULT_TIMEOUT);
    }

    /**
     * {@code count} identical fake GPUs, indexed from 0, each with {@code vramMib} total and free.
     * {@link LaunchFlags} treats them like real ones, so this is for the fake ComfyUI and demos: a real
     * ComfyUI given their CUDA flags on a machine without such GPUs fails to start.
     *
     * @throws IllegalArgumentException when count is negative, vramMib not positive, or the name blank
     */
    public static GpuDetector mock(int count, long vramMib, String name) {
        if (count < 0) {
            throw new IllegalArgumentException("count < 0: " + count);
        }
        if (vramMib <= 0) {
            throw new IllegalArgumentException("vramMib <= 0: " + vramMib);
        }
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("mock GPU name is blank");
        }
        List<Gpu> gpus = IntStream.range(0, count).mapToObj(i -> new Gpu(i, name, vramMib, vramMib, "mock")).toList();
        return new GpuDetector(Mode.MOCK, Map.of(), DEFAULT_TIMEOUT, new GpuReport(gpus, GpuReport.Source.MOCK, Optional.empty()));
    }

    /** No GPU on purpose: reports none, without a warning, and runs nothing. */
    public static GpuDetector cpu() {
        return new GpuDetector(Mode.CPU, Map.of(), DEFAULT_TIMEOUT, null);
    }

    public Mode mode() {
        return mode;
    }

    /** Where nvidia-smi would be run from; empty in mock and cpu mode or when it is not on PATH. */
    public Optional<Path> nvidiaSmiPath() {
        if (mode == Mode.MOCK || mode == Mode.CPU) {
            return Optional.empty();
        }
        return CommandRunner.findOnPath("nvidia-smi", environment.get("PATH"));
    }

    /** Detects GPUs; never throws (see the class comment). May block up to the timeout. */
    public GpuReport detect() {
        if (mode == Mode.CPU) {
            return GpuReport.none(null);
        }
        if (mode == Mode.MOCK) {
            return mockReport;
        }
        Optional<Path> smi = nvidiaSmiPath();
        if (smi.isEmpty()) {
            return GpuReport.none(prefix() + "nvidia-smi was not found on PATH (" + environment.getOrDefault("PATH", "unset")
                    + "), so no NVIDIA GPU is known; " + CPU_CONSEQUENCE
                    + ". Install the NVIDIA driver or put nvidia-smi on the PATH comfyctl runs with.");
        }
        CommandRunner.Outcome outcome = CommandRunner.run(List.of(smi.get().toString(), GPU_QUERY, CSV_FORMAT), environment, timeout);
        if (!(outcome instanceof CommandRunner.Exited exited) || exited.exitCode() != 0) {
            return GpuReport.none(prefix() + failure(smi.get(), outcome) + "; no GPU detected, " + CPU_CONSEQUENCE + ".");
        }
        NvidiaSmiCsv.Parsed<Gpu> parsed = NvidiaSmiCsv.gpus(exited.output());
        if (parsed.values().isEmpty()) {
            String what = parsed.unreadable().isEmpty()
                    ? smi.get() + " listed no GPUs"
                    : smi.get() + " printed output comfyctl cannot read: " + quote(exited.output());
            return GpuReport.none(prefix() + what + "; " + CPU_CONSEQUENCE + ".");
        }
        Optional<String> warning = parsed.unreadable().isEmpty()
                ? Optional.empty()
                : Optional.of("ignored " + parsed.unreadable().size() + " line(s) of nvidia-smi output comfyctl cannot read: "
                        + quote(String.join("\n", parsed.unreadable())) + "; GPUs on those lines are not used.");
        return new GpuReport(parsed.values(), GpuReport.Source.NVIDIA_SMI, warning);
    }

    /**
     * The processes holding GPU memory, to check that a stopped ComfyUI released its VRAM. Mock and cpu
     * modes have no real GPU, hence no such processes: the list is empty.
     *
     * @throws GpuQueryException when nvidia-smi is missing, fails, hangs or prints something unreadable:
     *                            an empty list would wrongly claim that all VRAM was released
     */
    public List<GpuProcess> computeApps() {
        if (mode == Mode.MOCK || mode == Mode.CPU) {
            return List.of();
        }
        Path smi = nvidiaSmiPath().orElseThrow(() -> new GpuQueryException(
                "cannot list GPU processes: nvidia-smi was not found on PATH (" + environment.getOrDefault("PATH", "unset") + ")"));
        CommandRunner.Outcome outcome = CommandRunner.run(List.of(smi.toString(), APPS_QUERY, CSV_FORMAT), environment, timeout);
        if (!(outcome instanceof CommandRunner.Exited exited) || exited.exitCode() != 0) {
            throw new GpuQueryException("cannot list GPU processes: " + failure(smi, outcome));
        }
        NvidiaSmiCsv.Parsed<GpuProcess> parsed = NvidiaSmiCsv.computeApps(exited.output());
        if (!parsed.unreadable().isEmpty()) {
            throw new GpuQueryException("cannot list GPU processes: " + smi + " printed output comfyctl cannot read: "
                    + quote(String.join("\n", parsed.unreadable())));
        }
        return parsed.values();
    }

    private String prefix() {
        return mode == Mode.NVIDIA ? "GPU mode 'nvidia' requires a working nvidia-smi, but " : "";
    }

    private static String failure(Path smi, CommandRunner.Outcome outcome) {
        if (outcome instanceof CommandRunner.Exited exited) {
            String output = exited.output().isBlank() ? "no output" : quote(exited.output());
            String hint = exited.exitCode() == 9 ? " (the NVIDIA driver is not loaded or not answering)" : "";
            return smi + " exited with status " + exited.exitCode() + hint + ": " + output;
        }
        if (outcome instanceof CommandRunner.OutputHeldOpen) {
            return smi + " exited, but a process it started kept its output open (the NVIDIA driver may be hung or still loading)";
        }
        if (outcome instanceof CommandRunner.TimedOut timedOut) {
            return smi + " " + timedOut.description() + " (the NVIDIA driver may be hung or still loading)";
        }
        return "could not run " + smi + ": " + ((CommandRunner.Failed) outcome).reason();
    }

    private static String quote(String output) {
        String oneLine = output.strip().replaceAll("\\s*\\R\\s*", " | ");
        return "'" + (oneLine.length() > MAX_QUOTED_OUTPUT ? oneLine.substring(0, MAX_QUOTED_OUTPUT) + "..." : oneLine) + "'";
    }
}
