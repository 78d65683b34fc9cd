package dev.comfyctl.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/** A running fake ComfyUI started by the test itself; {@link #close()} kills it and its children. */
public final class FakeProcess implements AutoCloseable {

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();

    private final FakeComfyUi fake;
    private final Process process;
    private final int port;
    private final AtomicBoolean closed = new AtomicBoolean();

    FakeProcess(FakeComfyUi fake, Process process, int port) {
        this.fake = fake;
        this.process = process;
        this.port = port;
    }

    public Process process() {
        return process;
    }

    public long pid() {
        return process.pid();
    }

    public int port() {
        return port;
    }

    /** {@code http://127.0.0.1:<port>/}. */
    public URI baseUri() {
        return URI.create("http://127.0.0.1:" + port + "/");
    }

    /** Everything the fake printed to stdout so far (all starts of this install). */
    public String output() {
        return read("fake-stdout.log");
    }

    /** Everything the fake printed to stderr so far (all starts of this install). */
    public String errors() {
        return read("fake-stderr.log");
    }

    /**
     * Waits until {@code GET /system_stats} answers 200.
     *
     * @throws IllegalStateException when the process exits first or the timeout passes, naming the
     *     exit code and the end of its stderr
     */
    public void awaitReady(Duration timeout) {
        Instant deadline = Instant.now().plus(timeout);
        HttpRequest request = HttpRequest.newBuilder(baseUri().resolve("system_stats"))
                .timeout(Duration.ofSeconds(2)).build();
        while (Instant.now().isBefore(deadline)) {
            if (!process.isAlive()) {
                throw new IllegalStateException("fake ComfyUI exited with code " + process.exitValue()
                        + " before it was ready; stderr: " + tail(errors()));
            }
            try {
                if (HTTP.send(request, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException notListeningYet) {
                // Connection refused until the fake has bound its port: poll again.
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the fake ComfyUI", e);
            }
            sleep(50);
        }
        throw new IllegalStateException("fake ComfyUI not ready on port " + port + " after " + timeout
                + "; stderr: " + tail(errors()));
    }

    /** Waits for the process to exit and returns its exit code. */
    public int awaitExit(Duration timeout) {
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new IllegalStateException("fake ComfyUI still running after " + timeout);
            }
            return process.exitValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the fake ComfyUI to exit", e);
        }
    }

    /**
     * Kills the fake and every process it started with SIGKILL (the fake may ignore SIGTERM), then
     * waits up to 10 s for it to be gone. Idempotent.
     */
    @Override
    public void close() {
        if (closed.getAndSet(true)) {
            return;
        }
        // Collected before the kill: once the parent is gone its children are re-parented and lost.
        List<ProcessHandle> children = process.descendants().toList();
        process.destroyForcibly();
        children.forEach(ProcessHandle::destroyForcibly);
        // A child left behind by an earlier run of this install (after an exit or a reboot) is no descendant.
        OptionalLong leftover = fake.childPid();
        if (leftover.isPresent()) {
            ProcessHandle.of(leftover.getAsLong()).filter(FakeProcess::isFakeChild).ifPresent(ProcessHandle::destroyForcibly);
        }
        try {
            process.onExit().get(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("fake ComfyUI pid " + process.pid() + " did not die on SIGKILL", e);
        }
    }

    private static boolean isFakeChild(ProcessHandle handle) {
        return handle.info().commandLine().map(line -> line.contains("fake-comfyui-child")).orElse(false);
    }

    private String read(String name) {
        Path file = fake.dir().resolve(name);
        try {
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    private static String tail(String text) {
        return text.length() <= 2000 ? text : text.substring(text.length() - 2000);
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the fake ComfyUI", e);
        }
    }
}
