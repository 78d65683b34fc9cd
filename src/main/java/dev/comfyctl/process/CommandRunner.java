package dev.comfyctl.process;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs a short-lived command with a deadline and collects its output (stdout and stderr merged).
 * Never throws for a failing command: the caller gets an {@link Outcome} to turn into a diagnosis.
 */
public final class CommandRunner {

    /** Output beyond this is read and discarded, so a runaway command cannot fill the heap. */
    private static final int MAX_OUTPUT_BYTES = 1 << 20;
    /**
     * How long to wait for the output to end after the command exited: a child it left behind may
     * hold the pipe open, and that must not turn into an unbounded wait.
     */
    private static final Duration OUTPUT_GRACE = Duration.ofSeconds(1);

    public sealed interface Outcome permits Exited, OutputHeldOpen, TimedOut, Failed {
    }

    public record Exited(int exitCode, String output) implements Outcome {
    }

    /** It exited, but a process it started kept its output open past the grace period: no output, only its status. */
    public record OutputHeldOpen(int exitCode) implements Outcome {
    }

    /** @param description what ran over time, as a sentence fragment */
    public record TimedOut(String description) implements Outcome {
    }

    /** @param reason why it could not be run to the end, as a sentence fragment */
    public record Failed(String reason) implements Outcome {
    }

    private CommandRunner() {
    }

    /**
     * The first regular, executable file named {@code name} in the directories of {@code path}
     * (a PATH-style string). Empty entries, which a shell reads as the current directory, are skipped:
     * a supervisor must not run whatever happens to lie in its working directory.
     */
    public static Optional<Path> findOnPath(String name, String path) {
        if (path == null) {
            return Optional.empty();
        }
        for (String dir : path.split(File.pathSeparator)) {
            if (dir.isBlank()) {
                continue;
            }
            Path candidate = Path.of(dir, name);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    /** Runs {@code command} with exactly {@code environment}, killing it and its children after {@code timeout}. */
    public static Outcome run(List<String> command, Map<String, String> environment, Duration timeout) {
        return run(command, Optional.empty(), environment, timeout);
    }

    /** The same, run in {@code workingDirectory} when given (a custom node's install.py expects its own). */
    public static Outcome run(List<String> command, Optional<Path> workingDirectory, Map<String, String> environment,
                              Duration timeout) {
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        workingDirectory.ifPresent(dir -> builder.directory(dir.toFile()));
        builder.environment().clear();
        builder.environment().putAll(environment);
        Process process;
        try {
            process = builder.start();
        } catch (IOException e) {
            return new Failed(e.getMessage());
        }
        CompletableFuture<String> output = readInBackground(process.getInputStream(), command.get(0));
        try {
            process.getOutputStream().close();
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                killTree(process);
                return new TimedOut("did not finish within " + timeout.toMillis() + " ms and was killed");
            }
            return new Exited(process.exitValue(), output.get(OUTPUT_GRACE.toMillis(), TimeUnit.MILLISECONDS));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            killTree(process);
            return new Failed("interrupted while waiting for it");
        } catch (TimeoutException e) {
            return new OutputHeldOpen(process.exitValue());
        } catch (ExecutionException | IOException e) {
            return new Failed("reading its output failed: " + e.getMessage());
        }
    }

    private static CompletableFuture<String> readInBackground(InputStream in, String name) {
        CompletableFuture<String> result = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try (in) {
                byte[] bytes = in.readNBytes(MAX_OUTPUT_BYTES);
                in.transferTo(OutputStream.nullOutputStream());
                result.complete(new String(bytes, StandardCharsets.UTF_8));
            } catch (IOException e) {
                result.completeExceptionally(e);
            }
        }, "output of " + name);
        reader.setDaemon(true);
        reader.start();
        return result;
    }

    /** Children first: once the parent is gone they are re-parented and no longer found as its descendants. */
    private static void killTree(Process process) {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
    }
}
