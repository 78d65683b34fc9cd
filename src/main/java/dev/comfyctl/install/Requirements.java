package dev.comfyctl.install;

import dev.comfyctl.comfy.ComfyPython;
import dev.comfyctl.process.CommandRunner;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

/**
 * ComfyUI's {@code requirements.txt}, installed with ComfyUI's own python only when it differs from what is
 * installed. What is installed is known from the stamp {@code comfyctl setup} leaves in the virtual environment,
 * else taken to be the requirements of the version that ran; a failed install leaves it unknown, so the next
 * version's requirements are installed whatever they are.
 */
final class Requirements {
    static final String FILE = "requirements.txt";
    /** The same stamp {@link ComfyUiSetup} writes. */
    private static final String STAMP = ".comfyctl-requirements.sha256";
    private static final Duration PIP_TIMEOUT = Duration.ofMinutes(60);
    private static final String UNKNOWN = "unknown";

    private final UpdateSettings settings;
    private String installed;

    Requirements(UpdateSettings settings) {
        this.settings = settings;
    }

    /** @param running the requirements of the version ComfyUI runs now; {@code wanted} those of the one going to */
    boolean needInstall(Optional<String> running, Optional<String> wanted) {
        if (wanted.isEmpty()) {
            return false;
        }
        if (installed == null) {
            installed = python().flatMap(Requirements::stamp).flatMap(Requirements::read)
                    .orElseGet(() -> running.map(Requirements::sha256).orElse(UNKNOWN));
        }
        return !installed.equals(sha256(wanted.get()));
    }

    String pythonDescription() {
        return python().map(Path::toString).orElse("no python");
    }

    /** Installs the checkout's requirements.txt, whose content is {@code wanted}. */
    void install(Optional<String> wanted) {
        Path python = python().orElseThrow(() -> new UpdateException(comfyPython().notFound() + " to install " + FILE
                + " with; set COMFYUI_PYTHON or create the virtual environment with 'comfyctl setup'", List.of()));
        installed = UNKNOWN;
        stamp(python).ifPresent(InstallFiles::deleteQuietly);
        List<String> command = new ArrayList<>(List.of(python.toString(), "-m", "pip", "--disable-pip-version-check",
                "install", "-r", settings.dir().resolve(FILE).toString()));
        command.addAll(settings.pipArgs());
        CommandRunner.Outcome outcome = CommandRunner.run(command, settings.environment(), PIP_TIMEOUT);
        String what = "pip install -r " + FILE + " with " + python;
        if (outcome instanceof CommandRunner.Exited exited && exited.exitCode() != 0) {
            throw new UpdateException(what + " exited with status " + exited.exitCode(), exited.output().lines().toList());
        } else if (outcome instanceof CommandRunner.TimedOut timedOut) {
            throw new UpdateException(what + " " + timedOut.description(), List.of());
        } else if (outcome instanceof CommandRunner.Failed failedToRun) {
            throw new UpdateException(what + " could not run: " + failedToRun.reason(), List.of());
        }
        installed = sha256(wanted.orElseThrow());
        Optional<Path> stamp = stamp(python);
        if (stamp.isPresent()) {
            try {
                Files.writeString(stamp.get(), installed);
            } catch (IOException e) {
                throw new UpdateException("cannot write " + stamp.get() + ": " + e.getMessage(), List.of());
            }
        }
    }

    private Optional<Path> python() {
        return comfyPython().find();
    }

    private ComfyPython comfyPython() {
        return new ComfyPython(settings.dir(), settings.python());
    }

    /** In the virtual environment, where setup writes it; a python outside of one gets none. */
    private static Optional<Path> stamp(Path python) {
        Path venv = python.getParent().getParent();
        return venv != null && Files.isRegularFile(venv.resolve("pyvenv.cfg")) ? Optional.of(venv.resolve(STAMP)) : Optional.empty();
    }

    private static Optional<String> read(Path file) {
        try {
            return Files.exists(file) ? Optional.of(Files.readString(file).strip()) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    static String sha256(String content) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
