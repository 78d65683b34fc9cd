package dev.comfyctl.supervisor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.comfy.ComfyClient;
import dev.comfyctl.comfy.ComfyPython;
import dev.comfyctl.comfy.ModelInventory;
import dev.comfyctl.config.Config;
import dev.comfyctl.gpu.Gpu;
import dev.comfyctl.gpu.GpuDetector;
import dev.comfyctl.gpu.GpuReport;
import dev.comfyctl.gpu.LaunchFlags;
import dev.comfyctl.gpu.MemoryMode;
import dev.comfyctl.process.LaunchSpec;
import dev.comfyctl.process.PortOwner;
import dev.comfyctl.process.ProcessInfo;
import dev.comfyctl.process.ProcessLauncher;
import dev.comfyctl.process.RunningProcess;
import dev.comfyctl.process.SessionLogs;
import dev.comfyctl.process.StopResult;
import dev.comfyctl.supervisor.StepEvent.Outcome;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/**
 * One start of ComfyUI, step by step (see {@link Step}): each step is reported to the listener as it
 * happens, and the first one that cannot go on throws {@link StartFailedException} with what to do.
 */
final class Startup {
    private static final Duration FIRST_POLL = Duration.ofMillis(10);
    private static final Duration LONGEST_POLL = Duration.ofMillis(250);
    private static final Duration WARMUP_POLL = Duration.ofMillis(100);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What a successful start leaves behind. */
    record Launched(RunningProcess process, Path sessionLog, GpuReport gpus, List<String> command,
                    Duration timeToReady) {
    }

    private final Config config;
    private final InstanceSpec spec;
    private final GpuDetector gpuDetector;
    private final Consumer<StepEvent> listener;

    Startup(Config config, InstanceSpec spec, GpuDetector gpuDetector, Consumer<StepEvent> listener) {
        this.config = config;
        this.spec = spec;
        this.gpuDetector = gpuDetector;
        this.listener = listener;
    }

    Launched run() {
        Instant begun = Instant.now();
        Path python = preflight();
        stopStrays();
        GpuReport gpus = detectGpus();
        LaunchFlags flags = chooseFlags(gpus);
        countModels();
        Path log = openSessionLog();
        List<String> command = command(python, flags.flags());
        RunningProcess process = launch(command, python, flags, gpuIndex(gpus), log);
        Duration timeToReady = awaitReady(process, log, begun);
        if (config.warmupWorkflow().isPresent()) {
            warmUp(process, config.warmupWorkflow().get(), log);
            timeToReady = Duration.between(begun, Instant.now());
        }
        report(Step.URLS, Outcome.DONE, "web UI http://" + displayHost(config.managerHost()) + ":" + config.managerPort()
                + "/ , API http://" + displayHost(config.managerHost()) + ":" + config.managerPort()
                + "/prompt (ComfyUI itself on http://" + config.comfyHost() + ":" + spec.port() + ")");
        return new Launched(process, log, gpus, command, timeToReady);
    }

    private Path preflight() {
        report(Step.PREFLIGHT, Outcome.RUNNING, "checking " + config.comfyDir());
        Path dir = config.comfyDir();
        if (!Files.isDirectory(dir)) {
            throw fail(Step.PREFLIGHT, "ComfyUI directory " + dir + " does not exist. Set COMFYUI_DIR (or --dir) to"
                    + " your ComfyUI install, or install it there with: comfyctl setup --dir " + dir);
        }
        Path mainPy = dir.resolve("main.py");
        if (!Files.isRegularFile(mainPy)) {
            throw fail(Step.PREFLIGHT, dir + " is not a ComfyUI install: " + mainPy + " is missing. Point COMFYUI_DIR"
                    + " at the directory that holds main.py");
        }
        Path python = findPython(dir);
        config.warmupWorkflow().filter(workflow -> !Files.isReadable(workflow)).ifPresent(workflow -> {
            throw fail(Step.PREFLIGHT, "WARMUP_WORKFLOW is " + workflow + ", which cannot be read; point it at an"
                    + " API-format workflow (ComfyUI: Workflow > Export (API)) or unset it");
        });
        if (spec.port() == config.managerPort() && config.comfyHost().equals(config.managerHost())) {
            throw fail(Step.PREFLIGHT, "COMFYUI_PORT and MANAGER_PORT are both " + spec.port()
                    + ": ComfyUI needs its own port behind comfyctl; set COMFYUI_PORT to another one (default 8189)");
        }
        if (!PortOwner.isFree(config.comfyHost(), spec.port())) {
            Optional<ProcessInfo> owner = PortOwner.find(spec.port());
            boolean strayOfOurs = owner.isPresent() && Strays.find(dir).stream()
                    .anyMatch(stray -> stray.pid() == owner.get().pid());
            if (!strayOfOurs) {
                throw fail(Step.PREFLIGHT, "port " + spec.port() + " on " + config.comfyHost() + " is already in use"
                        + owner.map(p -> " by pid " + p.pid() + " (" + p.commandLine() + ")").orElse(" by another process")
                        + ". Stop that process or set COMFYUI_PORT to a free port");
            }
        }
        report(Step.PREFLIGHT, Outcome.DONE, "ComfyUI in " + dir + ", python " + python + ", port " + spec.port() + " free");
        return python;
    }

    private Path findPython(Path dir) {
        ComfyPython python = new ComfyPython(dir, config.python());
        return python.find().orElseThrow(() -> fail(Step.PREFLIGHT, python.notFound() + ". " + howToCreate(python)));
    }

    private static String howToCreate(ComfyPython python) {
        Path dir = python.comfyDir();
        if (python.configured().isPresent()) {
            Path bin = python.configured().get().getParent();
            return "Create the virtual environment with: python3 -m venv " + bin.getParent() + " && " + bin.resolve("pip")
                    + " install -r " + dir.resolve("requirements.txt");
        }
        return "Create one with: python3 -m venv " + dir.resolve("venv") + " && " + dir.resolve("venv/bin/pip")
                + " install -r " + dir.resolve("requirements.txt") + " (or run 'comfyctl setup', which also installs PyTorch),"
                + " or set COMFYUI_PYTHON to the python that runs ComfyUI";
    }

    private void stopStrays() {
        report(Step.STRAY_PROCESSES, Outcome.RUNNING, "looking for ComfyUI processes of " + config.comfyDir());
        List<Strays.Stopped> stopped = Strays.stopAll(config.comfyDir(), config.stopGrace(), spec.siblingPorts());
        if (stopped.isEmpty()) {
            report(Step.STRAY_PROCESSES, Outcome.DONE, "none found");
            return;
        }
        for (Strays.Stopped stray : stopped) {
            if (!stray.result().survivors().isEmpty()) {
                throw fail(Step.STRAY_PROCESSES, "stray ComfyUI pid " + stray.process().pid() + " ("
                        + stray.process().commandLine() + ") survived SIGKILL: " + stray.result().survivors()
                        + ". Check who owns it: ps -o user= -p " + stray.process().pid());
            }
        }
        if (!PortOwner.isFree(config.comfyHost(), spec.port())) {
            throw fail(Step.STRAY_PROCESSES, "port " + spec.port() + " is still in use after stopping the strays;"
                    + " set COMFYUI_PORT to a free port");
        }
        report(Step.STRAY_PROCESSES, Outcome.WARNING, "found " + stopped.size() + " stray ComfyUI process(es) of this install: "
                + stopped.stream().map(Strays.Stopped::describe).collect(Collectors.joining(", ")));
    }

    private GpuReport detectGpus() {
        report(Step.GPU, Outcome.RUNNING, "detecting GPUs (GPU_MODE=" + config.gpuMode() + ")");
        GpuReport report = gpuDetector.detect();
        Optional<Gpu> gpu = spec.gpuIndex().isPresent()
                ? report.gpus().stream().filter(g -> g.index() == spec.gpuIndex().getAsInt()).findFirst()
                : report.gpus().stream().findFirst();
        if (gpu.isEmpty()) {
            report(Step.GPU, Outcome.WARNING, report.warning().orElse("no GPU") + "; ComfyUI runs on the CPU");
        } else {
            Gpu g = gpu.get();
            report(Step.GPU, report.warning().isPresent() ? Outcome.WARNING : Outcome.DONE,
                    "GPU " + g.index() + ": " + g.name() + ", " + gib(g.vramTotalMib()) + " VRAM ("
                            + gib(g.vramFreeMib()) + " free), driver " + g.driverVersion()
                            + (report.gpus().size() > 1 ? ", " + report.gpus().size() + " GPUs in all" : "")
                            + report.warning().map(w -> "; " + w).orElse(""));
        }
        return report;
    }

    private LaunchFlags chooseFlags(GpuReport gpus) {
        report(Step.FLAGS, Outcome.RUNNING, "choosing ComfyUI flags");
        try {
            LaunchFlags.Overrides overrides = new LaunchFlags.Overrides(memoryOverride(), config.disableCudaMalloc(),
                    config.cudaDevice(), config.extraArgs());
            LaunchFlags flags = LaunchFlags.compute(gpus, gpuIndex(gpus), overrides);
            report(Step.FLAGS, Outcome.DONE, String.join(" ", flags.flags()) + "  (" + String.join("; ", flags.explanations()) + ")");
            return flags;
        } catch (IllegalArgumentException e) {
            throw fail(Step.FLAGS, e.getMessage() + ". Fix COMFYUI_EXTRA_ARGS, COMFYUI_MEMORY_MODE or COMFYUI_CUDA_DEVICE");
        }
    }

    private int gpuIndex(GpuReport gpus) {
        return spec.gpuIndex().orElse(gpus.gpus().isEmpty() ? 0 : gpus.gpus().get(0).index());
    }

    private Optional<MemoryMode> memoryOverride() {
        return config.memoryMode().equals("auto") ? Optional.empty() : Optional.of(MemoryMode.fromName(config.memoryMode()));
    }

    private void countModels() {
        report(Step.MODELS, Outcome.RUNNING, "counting model files");
        ModelInventory.Result models = ModelInventory.scan(config.comfyDir());
        String perType = models.countsByType().entrySet().stream()
                .filter(e -> e.getValue() > 0)
                .map(e -> e.getKey() + " " + e.getValue())
                .collect(Collectors.joining(", "));
        report(Step.MODELS, Outcome.DONE, models.totalFiles() + " model files"
                + (perType.isEmpty() ? " (models/ has none yet)" : ": " + perType));
    }

    private Path openSessionLog() {
        report(Step.SESSION_LOG, Outcome.RUNNING, "creating session log");
        SessionLogs logs = new SessionLogs(spec.logsDir());
        Path log = logs.createNew(Instant.now());
        logs.prune(config.logKeepCount(), config.logKeepBytes(), log);
        report(Step.SESSION_LOG, Outcome.DONE, log.toString());
        return log;
    }

    List<String> command(Path python, List<String> flags) {
        List<String> command = new ArrayList<>();
        if (config.startCommand().isEmpty()) {
            command.add(python.toString());
            command.add(config.comfyDir().resolve("main.py").toString());
        } else {
            command.addAll(config.startCommand());
        }
        command.addAll(List.of("--listen", config.comfyHost(), "--port", Integer.toString(spec.port()), "--disable-auto-launch"));
        command.addAll(flags);
        return command;
    }

    private RunningProcess launch(List<String> command, Path python, LaunchFlags flags, int gpuIndex, Path log) {
        report(Step.LAUNCH, Outcome.RUNNING, String.join(" ", command));
        Map<String, String> environment = new LinkedHashMap<>();
        environment.put("PYTHONUNBUFFERED", "1");
        environment.put("TQDM_DISABLE", "1");
        environment.put("DISABLE_PROGRESS_BARS", "true");
        environment.put("DISABLE_AUTO_LAUNCH", "true");
        environment.put("DONT_PRINT_SERVER", "true");
        environment.putAll(flags.environment());
        if (flags.usesGpu()) {
            environment.put("CUDA_VISIBLE_DEVICES", Integer.toString(config.cudaDevice().orElse(gpuIndex)));
        }
        Path venv = python.getParent().getParent();
        if (venv != null && Files.isRegularFile(venv.resolve("pyvenv.cfg"))) {
            environment.put("VIRTUAL_ENV", venv.toString());
            environment.put("PATH", venv.resolve("bin") + ":" + System.getenv().getOrDefault("PATH", "/usr/bin:/bin"));
        }
        // Without it ComfyUI-Manager's restart replaces the process with os.execv, and launchers lose track of it.
        environment.put("__COMFY_CLI_SESSION__", spec.sessionPrefix().toString());
        environment.putAll(spec.extraEnvironment());
        try {
            Files.createDirectories(spec.sessionPrefix().getParent());
            Files.deleteIfExists(spec.rebootMarker());
            return new ProcessLauncher().launch(new LaunchSpec(command, config.comfyDir(), environment, log));
        } catch (RuntimeException | IOException e) {
            throw fail(Step.LAUNCH, "could not start " + command.get(0) + ": " + e.getMessage());
        }
    }

    private Duration awaitReady(RunningProcess process, Path log, Instant begun) {
        ComfyClient client = spec.client();
        Instant deadline = Instant.now().plus(config.startTimeout());
        Duration poll = FIRST_POLL;
        while (true) {
            if (client.isReady()) {
                Duration took = Duration.between(begun, Instant.now());
                report(Step.LAUNCH, Outcome.DONE, "ComfyUI pid " + process.pid() + " ready in " + took.toMillis() + " ms");
                return took;
            }
            if (!process.isAlive()) {
                int code = process.onExit().join();
                throw fail(Step.LAUNCH, "ComfyUI exited with code " + code + " before it was ready; its log: " + log,
                        tail(log));
            }
            if (Instant.now().isAfter(deadline)) {
                StopResult stopped = process.stop(config.stopGrace());
                throw fail(Step.LAUNCH, "ComfyUI did not answer /system_stats within " + config.startTimeout().toSeconds()
                        + " s (COMFYUI_START_TIMEOUT_SECONDS); it was stopped" + (stopped.forced() ? " by force" : "")
                        + "; its log: " + log, tail(log));
            }
            try {
                Thread.sleep(poll.toMillis());
            } catch (InterruptedException e) {
                process.stop(config.stopGrace());
                throw fail(Step.LAUNCH, "start cancelled by a stop request; ComfyUI was stopped");
            }
            poll = poll.multipliedBy(2).compareTo(LONGEST_POLL) > 0 ? LONGEST_POLL : poll.multipliedBy(2);
        }
    }

    /**
     * Runs the warmup workflow and waits for it, so models are loaded before the first user asks. A workflow
     * ComfyUI refuses, or one that fails, fails the start with ComfyUI's own words, and ComfyUI is stopped.
     */
    private void warmUp(RunningProcess process, Path workflow, Path log) {
        report(Step.LAUNCH, Outcome.RUNNING, "warming up with " + workflow);
        Instant began = Instant.now();
        Instant deadline = began.plus(config.startTimeout());
        try {
            JsonNode file = JSON.readTree(Files.readString(workflow));
            String promptId = spec.client().submit(file.has("prompt") ? file.get("prompt") : file, "comfyctl-warmup").promptId();
            while (true) {
                JsonNode status = spec.client().history(promptId).path("status");
                if (status.path("completed").asBoolean() || status.path("status_str").asText().equals("error")) {
                    if (!status.path("status_str").asText().equals("success")) {
                        throw new IllegalStateException("the warmup workflow failed in ComfyUI: " + status.path("messages"));
                    }
                    break;
                }
                if (!process.isAlive() || Instant.now().isAfter(deadline)) {
                    throw new IllegalStateException(process.isAlive() ? "the warmup workflow did not finish within "
                            + config.startTimeout().toSeconds() + " s" : "ComfyUI exited during the warmup");
                }
                Thread.sleep(WARMUP_POLL.toMillis());
            }
        } catch (IOException | RuntimeException e) {
            process.stop(config.stopGrace());
            throw fail(Step.LAUNCH, "warmup with " + workflow + " failed: " + e.getMessage()
                    + ". Fix the workflow or unset WARMUP_WORKFLOW", tail(log));
        } catch (InterruptedException e) {
            process.stop(config.stopGrace());
            throw fail(Step.LAUNCH, "start cancelled by a stop request during the warmup; ComfyUI was stopped");
        }
        report(Step.LAUNCH, Outcome.DONE, "warmup workflow ran in " + Duration.between(began, Instant.now()).toMillis() + " ms");
    }

    private List<String> tail(Path log) {
        return SessionLogs.tail(log, 20);
    }

    private StartFailedException fail(Step step, String message) {
        return fail(step, message, List.of());
    }

    private StartFailedException fail(Step step, String message, List<String> logTail) {
        report(step, Outcome.FAILED, message);
        return new StartFailedException(step, message, logTail);
    }

    private void report(Step step, Outcome outcome, String message) {
        listener.accept(StepEvent.of(step, outcome, message));
    }

    static String displayHost(String host) {
        return host.equals("0.0.0.0") || host.equals("::") ? "localhost" : host;
    }

    private static String gib(long mib) {
        return String.format("%.1f GB", mib / 1024.0);
    }
}
