package dev.comfyctl.process;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Starts real helper processes for tests and cleans up whatever they left behind. */
final class Spawn implements AutoCloseable {

    static final Duration PATIENCE = Duration.ofSeconds(10);

    private final Path dir;
    private final ProcessLauncher launcher;
    private final List<RunningProcess> started = new ArrayList<>();
    private int count;

    Spawn(Path dir) {
        this(dir, new ProcessLauncher());
    }

    Spawn(Path dir, ProcessLauncher launcher) {
        this.dir = dir;
        this.launcher = launcher;
    }

    /** Runs a POSIX shell script; its output goes to {@link #log(RunningProcess)}. */
    RunningProcess sh(String script) {
        return launch(List.of("sh", "-c", script), dir);
    }

    RunningProcess python(String code) {
        return launch(List.of("python3", "-c", code), dir);
    }

    RunningProcess launch(List<String> command, Path workingDirectory) {
        RunningProcess process = launcher.launch(
                new LaunchSpec(command, workingDirectory, Map.of(), dir.resolve("out-" + ++count + ".log")));
        started.add(process);
        return process;
    }

    static Path log(RunningProcess process) {
        return process.spec().logFile();
    }

    /** Waits until the process's log has a first line and returns it. */
    static String firstLine(RunningProcess process) {
        await().atMost(PATIENCE).until(() -> !read(log(process)).isBlank());
        return read(log(process)).lines().findFirst().orElseThrow();
    }

    /** Waits for a pid that a helper wrote to {@code file}. */
    static long pidIn(Path file) {
        await().atMost(PATIENCE).until(() -> read(file).endsWith("\n"));
        return Long.parseLong(read(file).trim());
    }

    static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static boolean running(long pid) {
        return ProcessHandle.of(pid).map(ProcessTree::running).orElse(false);
    }

    @Override
    public void close() {
        started.forEach(p -> p.stop(Duration.ofSeconds(2)));
    }
}
