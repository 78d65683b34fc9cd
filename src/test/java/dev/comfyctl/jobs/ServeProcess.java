package dev.comfyctl.jobs;

import dev.comfyctl.cli.Main;
import dev.comfyctl.daemon.DaemonInfo;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;

/** {@code comfyctl serve} as a real process of its own, so that a test can kill -9 it. */
final class ServeProcess implements AutoCloseable {
    private final Process process;
    private final Path home;

    private ServeProcess(Process process, Path home) {
        this.process = process;
        this.home = home;
    }

    /** Starts {@code comfyctl serve} with {@code environment} and waits until its ComfyUI is ready. */
    static ServeProcess start(Map<String, String> environment, Path home, Path logDir) {
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-Xmx256m",
                "-cp", System.getProperty("java.class.path"), Main.class.getName(), "serve"));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(logDir.resolve("serve-" + System.nanoTime() + ".log").toFile()));
        builder.environment().putAll(environment);
        builder.environment().put("COMFYCTL_HOME", home.toString());
        try {
            ServeProcess serve = new ServeProcess(builder.start(), home);
            await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).until(() -> {
                if (!serve.process.isAlive()) {
                    throw new AssertionError("comfyctl serve exited with " + serve.process.exitValue() + "; see " + logDir);
                }
                return DaemonInfo.read(home).filter(info -> info.pid() == serve.process.pid()).isPresent()
                        && new JobApi(serve.baseUri()).get("/manager/status").body().path("instances").path(0)
                        .path("state").asText().equals("READY");
            });
            return serve;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    URI baseUri() {
        return URI.create(DaemonInfo.read(home).orElseThrow().baseUrl());
    }

    /** SIGKILL: no shutdown hook runs, no lease is given back. */
    void kill9() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.destroy();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        }
    }
}
