package dev.comfyctl.install;

import dev.comfyctl.gpu.GpuReport;
import dev.comfyctl.process.CommandRunner;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Installs ComfyUI: clone, check out a version, create its virtual environment, install the PyTorch build
 * for this machine, then ComfyUI's requirements. Every step first checks whether it is already done, so a
 * second run skips what is there and resumes what an interrupted run left half done.
 */
public final class ComfyUiSetup {
    private static final Duration GIT_TIMEOUT = Duration.ofMinutes(15);
    private static final Duration PIP_TIMEOUT = Duration.ofMinutes(60);
    private static final String REQUIREMENTS_STAMP = ".comfyctl-requirements.sha256";

    /**
     * @param torchIndexUrl "auto" (from the GPU driver), "none" (torch comes from the requirements or pip's own
     *     index), or a wheel index URL
     * @param pipArgs more pip arguments, such as {@code --no-index --find-links DIR} on an offline machine
     */
    public record Options(Path dir, String repoUrl, Optional<String> version, Path python, String torchIndexUrl,
                          List<String> pipArgs) {
    }

    /** One step, reported as it starts ({@code done=false}) and as it ends. */
    public record Progress(int number, String title, boolean done, boolean skipped, String message) {
    }

    private static final String[] TITLES = {"clone", "version", "virtual environment", "PyTorch", "requirements"};

    private final Options options;
    private final GpuReport gpus;
    private final Consumer<Progress> listener;
    private final Map<String, String> environment;

    public ComfyUiSetup(Options options, GpuReport gpus, Consumer<Progress> listener) {
        this(options, gpus, listener, System.getenv());
    }

    /** @param environment what git, python and pip run with (the user's pip configuration comes with it) */
    ComfyUiSetup(Options options, GpuReport gpus, Consumer<Progress> listener, Map<String, String> environment) {
        this.options = options;
        this.gpus = gpus;
        this.listener = listener;
        this.environment = Map.copyOf(environment);
    }

    /** @throws SetupException naming the step that failed and how to retry */
    public void run() {
        cloneRepository();
        checkOut();
        createVenv();
        installTorch();
        installRequirements();
    }

    private Path venvPython() {
        return options.dir().resolve("venv/bin/python");
    }

    private void cloneRepository() {
        Path dir = options.dir();
        if (Files.isDirectory(dir.resolve(".git"))) {
            skipped(1, dir + " is already a git checkout");
            return;
        }
        if (Files.exists(dir) && !InstallFiles.isEmptyDirectory(dir)) {
            throw failed(1, dir + " exists and is not a git checkout of ComfyUI; move it away or choose another --dir", List.of());
        }
        started(1, "cloning " + options.repoUrl());
        Path partial = dir.resolveSibling(dir.getFileName() + ".partial");
        deleteRecursively(partial);
        run(1, List.of("git", "clone", "--quiet", options.repoUrl(), partial.toString()), GIT_TIMEOUT);
        try {
            Files.deleteIfExists(dir);
            Files.move(partial, dir);
        } catch (IOException e) {
            throw failed(1, "cannot move the clone into place at " + dir + ": " + e.getMessage(), List.of());
        }
        finished(1, "cloned into " + dir);
    }

    private void checkOut() {
        if (options.version().isEmpty()) {
            skipped(2, "no --version: staying on " + head());
            return;
        }
        String wanted = options.version().get();
        String target = git(2, "rev-parse", "--verify", "--quiet", wanted + "^{commit}").orElseGet(() -> {
            run(2, List.of("git", "-C", options.dir().toString(), "fetch", "--quiet", "--tags", "origin"), GIT_TIMEOUT);
            return git(2, "rev-parse", "--verify", "--quiet", wanted + "^{commit}").orElseThrow(() ->
                    failed(2, "version " + wanted + " is neither a tag nor a commit of " + options.repoUrl(), List.of()));
        });
        if (target.equals(head())) {
            skipped(2, "already at " + wanted);
            return;
        }
        started(2, "checking out " + wanted);
        run(2, List.of("git", "-C", options.dir().toString(), "checkout", "--quiet", target), GIT_TIMEOUT);
        finished(2, "at " + wanted + " (" + target.substring(0, 12) + ")");
    }

    private void createVenv() {
        Path python = venvPython();
        if (Files.isExecutable(python) && CommandRunner.run(List.of(python.toString(), "-c", "import sys"), environment,
                Duration.ofSeconds(30)) instanceof CommandRunner.Exited exited && exited.exitCode() == 0) {
            skipped(3, python + " works");
            return;
        }
        started(3, "creating " + options.dir().resolve("venv") + " with " + options.python());
        deleteRecursively(options.dir().resolve("venv"));
        run(3, List.of(options.python().toString(), "-m", "venv", options.dir().resolve("venv").toString()), Duration.ofMinutes(5));
        finished(3, "created with " + options.python());
    }

    private void installTorch() {
        if (options.torchIndexUrl().equals("none")) {
            skipped(4, "TORCH_INDEX_URL=none: torch comes with the requirements");
            return;
        }
        if (pip(List.of("show", "--quiet", "torch"), Duration.ofMinutes(1)) instanceof CommandRunner.Exited exited
                && exited.exitCode() == 0) {
            skipped(4, "torch is already installed");
            return;
        }
        String index = options.torchIndexUrl().equals("auto") ? TorchIndex.forMachine(gpus) : options.torchIndexUrl();
        started(4, "installing torch from " + index);
        List<String> arguments = new ArrayList<>(List.of("install", "torch", "torchvision", "torchaudio", "--index-url", index));
        arguments.addAll(options.pipArgs());
        expectSuccess(4, pip(arguments, PIP_TIMEOUT));
        finished(4, "torch installed from " + index);
    }

    private void installRequirements() {
        Path requirements = options.dir().resolve("requirements.txt");
        Path stamp = options.dir().resolve("venv").resolve(REQUIREMENTS_STAMP);
        String hash = sha256(requirements);
        if (hash.equals(InstallFiles.readQuietly(stamp))) {
            skipped(5, "requirements.txt unchanged since it was installed");
            return;
        }
        started(5, "installing " + requirements);
        List<String> arguments = new ArrayList<>(List.of("install", "-r", requirements.toString()));
        arguments.addAll(options.pipArgs());
        expectSuccess(5, pip(arguments, PIP_TIMEOUT));
        try {
            Files.writeString(stamp, hash);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        finished(5, "requirements installed");
    }

    private CommandRunner.Outcome pip(List<String> arguments, Duration timeout) {
        List<String> command = new ArrayList<>(List.of(venvPython().toString(), "-m", "pip", "--disable-pip-version-check"));
        command.addAll(arguments);
        return CommandRunner.run(command, environment, timeout);
    }

    private String head() {
        return git(2, "rev-parse", "HEAD").orElse("an unknown commit");
    }

    private Optional<String> git(int step, String... arguments) {
        List<String> command = new ArrayList<>(List.of("git", "-C", options.dir().toString()));
        command.addAll(List.of(arguments));
        CommandRunner.Outcome outcome = CommandRunner.run(command, environment, GIT_TIMEOUT);
        if (outcome instanceof CommandRunner.Exited exited && exited.exitCode() == 0) {
            return Optional.of(exited.output().strip());
        }
        if (outcome instanceof CommandRunner.Failed failedToRun) {
            throw failed(step, "cannot run git: " + failedToRun.reason() + "; install git (apt-get install git)", List.of());
        }
        return Optional.empty();
    }

    private void run(int step, List<String> command, Duration timeout) {
        expectSuccess(step, CommandRunner.run(command, environment, timeout));
    }

    private void expectSuccess(int step, CommandRunner.Outcome outcome) {
        if (outcome instanceof CommandRunner.Exited exited) {
            if (exited.exitCode() != 0) {
                throw failed(step, "exited with status " + exited.exitCode(), InstallFiles.tail(exited.output()));
            }
        } else if (outcome instanceof CommandRunner.TimedOut timedOut) {
            throw failed(step, timedOut.description(), List.of());
        } else if (outcome instanceof CommandRunner.Failed failedToRun) {
            throw failed(step, "could not run: " + failedToRun.reason(), List.of());
        } else {
            throw failed(step, "exited, but a process it started kept its output open", List.of());
        }
    }

    private SetupException failed(int step, String what, List<String> tail) {
        String message = "setup step " + step + " (" + TITLES[step - 1] + ") failed: " + what
                + ". Fix the cause and run 'comfyctl setup' again: finished steps are skipped";
        listener.accept(new Progress(step, TITLES[step - 1], true, false, "FAILED: " + what));
        return new SetupException(message, tail);
    }

    private void started(int step, String message) {
        listener.accept(new Progress(step, TITLES[step - 1], false, false, message));
    }

    private void finished(int step, String message) {
        listener.accept(new Progress(step, TITLES[step - 1], true, false, message));
    }

    private void skipped(int step, String message) {
        listener.accept(new Progress(step, TITLES[step - 1], true, true, message));
    }

    private static String sha256(Path file) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
        } catch (IOException e) {
            throw new SetupException("cannot read " + file + ": " + e.getMessage() + "; is the clone complete?", List.of());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void deleteRecursively(Path path) {
        if (!Files.exists(path)) {
            return;
        }
        try (var walk = Files.walk(path)) {
            for (Path each : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(each);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove " + path, e);
        }
    }
}
