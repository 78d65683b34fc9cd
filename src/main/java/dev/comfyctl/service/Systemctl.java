package dev.comfyctl.service;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs {@code systemctl} found on a given PATH, with a deadline. systemctl can block for a long time
 * (waiting on D-Bus or polkit), so every call is bounded and a late one is killed.
 */
final class Systemctl {

    /** @param exitCode the exit status, or -1 when it did not finish or could not start */
    record Result(int exitCode, String output) {
        boolean succeeded() {
            return exitCode == 0;
        }

        /** The output on one line, for messages. */
        String summary() {
            String oneLine = output.strip().replaceAll("\\s*\\R\\s*", " | ");
            return oneLine.isEmpty() ? "no output" : "'" + oneLine + "'";
        }
    }

    private final Path executable;
    private final Map<String, String> environment;
    private final Duration timeout;

    private Systemctl(Path executable, Map<String, String> environment, Duration timeout) {
        this.executable = executable;
        this.environment = environment;
        this.timeout = timeout;
    }

    /**
     * systemctl from the environment's PATH, if there. Empty PATH entries (the working directory to a
     * shell) are skipped on purpose.
     */
    static Optional<Systemctl> find(Map<String, String> environment, Duration timeout) {
        String path = environment.get("PATH");
        if (path == null) {
            return Optional.empty();
        }
        for (String dir : path.split(File.pathSeparator)) {
            if (dir.isBlank()) {
                continue;
            }
            Path candidate = Path.of(dir, "systemctl");
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return Optional.of(new Systemctl(candidate, Map.copyOf(environment), timeout));
            }
        }
        return Optional.empty();
    }

    Path executable() {
        return executable;
    }

    /** Runs {@code systemctl args...}; never throws for a failing command, the result tells. */
    Result run(String... args) {
        List<String> command = new ArrayList<>();
        command.add(executable.toString());
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().clear();
        builder.environment().putAll(environment);
        Process process;
        try {
            process = builder.start();
        } catch (IOException e) {
            return new Result(-1, "could not run " + executable + ": " + e.getMessage());
        }
        CompletableFuture<String> output = new CompletableFuture<>();
        Thread reader = new Thread(() -> output.complete(read(process.getInputStream())), "systemctl output");
        reader.setDaemon(true);
        reader.start();
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly();
                return new Result(-1, "systemctl " + String.join(" ", args) + " did not finish within " + timeout.toSeconds() + " s and was killed");
            }
            return new Result(process.exitValue(), output.get(1, TimeUnit.SECONDS));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
            return new Result(-1, "interrupted while waiting for systemctl");
        } catch (ExecutionException | TimeoutException e) {
            // It exited, but something it started still holds the output open: its status is still the answer.
            return new Result(process.exitValue(), "");
        }
    }

    /** The output is only used in messages, so a read error becomes a note in it rather than a failure. */
    private static String read(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(output unreadable: " + e.getMessage() + ")";
        }
    }
}
