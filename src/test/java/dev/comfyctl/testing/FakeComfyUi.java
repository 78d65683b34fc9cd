package dev.comfyctl.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

/**
 * A ComfyUI install whose {@code main.py} is the fake from the test resources: a real process with
 * ComfyUI's flags, start-up output and HTTP/WebSocket API, steered by {@code fake.json}.
 *
 * <p>Typical use: {@code FakeComfyUi fake = FakeComfyUi.install(tempDir); fake.behave(Map.of(...));}
 * then either let comfyctl spawn {@link #python()} {@code main.py} in {@link #dir()}, or
 * {@code try (FakeProcess p = fake.launch(Ports.free())) {...}}.
 */
public final class FakeComfyUi {

    public static final List<String> MODEL_FOLDERS =
            List.of("checkpoints", "loras", "vae", "clip", "controlnet", "upscale_models", "embeddings");

    private static final Duration READY_TIMEOUT = Duration.ofSeconds(30);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;

    private FakeComfyUi(Path dir) {
        this.dir = dir;
    }

    /**
     * Lays out a ComfyUI install in {@code dir} (created if missing): main.py, requirements.txt,
     * models/*, custom_nodes, input, output, temp, user, and venv/bin/python linked to a real python 3.
     *
     * @throws UncheckedIOException when the directory cannot be written
     * @throws IllegalStateException when no python 3 is found
     */
    public static FakeComfyUi install(Path dir) {
        try {
            Files.createDirectories(dir);
            try (InputStream main = FakeComfyUi.class.getResourceAsStream("/fake-comfyui/main.py")) {
                if (main == null) {
                    throw new IllegalStateException("test resource /fake-comfyui/main.py is missing");
                }
                Files.copy(main, dir.resolve("main.py"), StandardCopyOption.REPLACE_EXISTING);
            }
            for (String folder : MODEL_FOLDERS) {
                Files.createDirectories(dir.resolve("models").resolve(folder));
            }
            for (String folder : List.of("custom_nodes", "input", "output", "temp", "user", "venv/bin")) {
                Files.createDirectories(dir.resolve(folder));
            }
            Files.writeString(dir.resolve("requirements.txt"), "torch\nnumpy\npillow\naiohttp\n");
            Path python = dir.resolve("venv/bin/python");
            Files.deleteIfExists(python);
            Files.createSymbolicLink(python, SystemPython.path());
            Files.writeString(dir.resolve("venv/pyvenv.cfg"), "home = " + SystemPython.path().getParent()
                    + "\ninclude-system-site-packages = false\n");
            return new FakeComfyUi(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot install the fake ComfyUI into " + dir, e);
        }
    }

    /** The install directory (holds main.py; the fake's working directory). */
    public Path dir() {
        return dir;
    }

    /** The install's {@code venv/bin/python}, a symlink to a real python 3. */
    public Path python() {
        return dir.resolve("venv/bin/python");
    }

    /**
     * {@code count} CUDA devices for fake.json's {@code devices}, like the mock GPUs of {@code TestConfigs}
     * (an RTX 4090 with 24 GB): the fake refuses a {@code --cuda-device} it has no device for.
     */
    public static List<Map<String, Object>> gpus(int count) {
        long vram = 24564L * 1024 * 1024;
        Map<String, Object> gpu = Map.of("name", "NVIDIA GeForce RTX 4090", "vram_total", vram, "vram_free", vram);
        return Collections.nCopies(count, gpu);
    }

    /**
     * Writes fake.json, read by the fake when it starts: startup_delay_seconds, exit_at_startup,
     * crash_after_seconds, crash_exit_code, hang_after_seconds, ignore_sigterm, spawn_child,
     * prompt_seconds, devices. Replaces what an earlier call wrote.
     */
    public FakeComfyUi behave(Map<String, Object> behaviour) {
        try {
            JSON.writeValue(dir.resolve("fake.json").toFile(), behaviour);
            return this;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write fake.json in " + dir, e);
        }
    }

    /** Creates models/{folder}/{name} filled with {@code bytes} zero bytes; returns its path. */
    public Path addModel(String folder, String name, int bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("bytes < 0");
        }
        try {
            Path file = dir.resolve("models").resolve(folder).resolve(name);
            Files.createDirectories(file.getParent());
            Files.write(file, new byte[bytes]);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot add model " + folder + "/" + name, e);
        }
    }

    /** One line {@code <unix time> <pid> <argv>} per start of the fake so far, oldest first. */
    public List<String> starts() {
        Path log = dir.resolve("fake-starts.log");
        try {
            return Files.exists(log) ? Files.readAllLines(log) : List.of();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + log, e);
        }
    }

    /** The pid the fake wrote when fake.json asked for spawn_child; empty until it has. */
    public OptionalLong childPid() {
        Path file = dir.resolve("fake-child.pid");
        try {
            String text = Files.exists(file) ? Files.readString(file).strip() : "";
            return text.isEmpty() ? OptionalLong.empty() : OptionalLong.of(Long.parseLong(text));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    /**
     * Starts the fake on {@code port} without waiting for it; for tests of start-up failures.
     * Its stdout and stderr go to files in the install dir (see {@link FakeProcess#output()}).
     */
    public FakeProcess start(int port, String... extraFlags) {
        return start(port, Map.of(), extraFlags);
    }

    /** Like {@link #start(int, String...)} with extra environment variables for the fake. */
    public FakeProcess start(int port, Map<String, String> env, String... extraFlags) {
        List<String> command = new ArrayList<>(List.of(python().toString(), "main.py", "--port", String.valueOf(port)));
        command.addAll(List.of(extraFlags));
        ProcessBuilder builder = new ProcessBuilder(command).directory(dir.toFile());
        builder.environment().put("PYTHONUNBUFFERED", "1");
        builder.environment().putAll(env);
        builder.redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("fake-stdout.log").toFile()));
        builder.redirectError(ProcessBuilder.Redirect.appendTo(dir.resolve("fake-stderr.log").toFile()));
        try {
            return new FakeProcess(this, builder.start(), port);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + command, e);
        }
    }

    /**
     * Starts the fake on {@code port} and waits until {@code GET /system_stats} answers 200.
     *
     * @throws IllegalStateException when the fake exits or is not ready within 30 s; it is killed then
     */
    public FakeProcess launch(int port, String... extraFlags) {
        return launch(port, Map.of(), extraFlags);
    }

    /** Like {@link #launch(int, String...)} with extra environment variables for the fake. */
    public FakeProcess launch(int port, Map<String, String> env, String... extraFlags) {
        FakeProcess process = start(port, env, extraFlags);
        try {
            process.awaitReady(READY_TIMEOUT);
            return process;
        } catch (RuntimeException e) {
            process.close();
            throw e;
        }
    }
}
