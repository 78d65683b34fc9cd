package dev.comfyctl.daemon;

import com.sun.net.httpserver.HttpServer;
import dev.comfyctl.config.Config;
import dev.comfyctl.config.ConfigLoader;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Ports;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@code comfyctl start}'s background daemon, launched for real, installing a model from a local server that serves
 * it slowly before it listens: the launcher waits while the daemon advances, however long that takes, and shows
 * the progress.
 */
@Timeout(120)
class DaemonLauncherTest {
    /** Far shorter than the download: only progress keeps the launcher waiting. */
    private static final Duration PROGRESS_TIMEOUT = Duration.ofSeconds(15);
    private static final int CHUNK = 32 * 1024;

    @TempDir
    Path temp;

    private HttpServer models;
    private final Map<String, String> settings = new HashMap<>();
    private final List<String> progress = new CopyOnWriteArrayList<>();
    private volatile long chunkDelayMillis;
    private volatile int chunks;

    @BeforeEach
    void serveModelsSlowly() throws IOException {
        models = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        models.createContext("/slow.safetensors", exchange -> {
            exchange.sendResponseHeaders(200, (long) chunks * CHUNK);
            try (OutputStream body = exchange.getResponseBody()) {
                for (int i = 0; i < chunks; i++) {
                    body.write(new byte[CHUNK]);
                    body.flush();
                    Thread.sleep(chunkDelayMillis);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        models.setExecutor(Executors.newCachedThreadPool());
        models.start();
        FakeComfyUi fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        settings.put("COMFYCTL_HOME", temp.resolve("state").toString());
        settings.put("COMFYUI_DIR", fake.dir().toString());
        settings.put("COMFYUI_PORT", Integer.toString(Ports.free()));
        settings.put("MANAGER_PORT", Integer.toString(Ports.free()));
        settings.put("HEALTH_PORT", "0");
        settings.put("GPU_MODE", "mock");
    }

    @AfterEach
    void stopDaemonAndServer() {
        DaemonInfo.read(temp.resolve("state")).ifPresent(info -> DaemonStopper.stop(info, Duration.ofSeconds(10)));
        models.stop(0);
    }

    private Config withModelManifest() throws IOException {
        Path manifest = temp.resolve("manifest.json");
        Files.writeString(manifest, """
                {"models": [{"url": "http://127.0.0.1:%d/slow.safetensors", "folder": "checkpoints", "filename": "slow.safetensors"}]}
                """.formatted(models.getAddress().getPort()));
        settings.put("COMPONENT_MANIFEST", manifest.toString());
        return ConfigLoader.load(settings, Map.of()).config();
    }

    @Test
    void theLauncherWaitsForASlowModelDownloadBeforeTheDaemonListensAndShowsItsProgress() throws Exception {
        chunks = 60;
        chunkDelayMillis = 400;
        Config config = withModelManifest();

        DaemonInfo daemon = DaemonLauncher.launch(config, settings, progress::add, PROGRESS_TIMEOUT);

        assertThat(ProcessHandle.of(daemon.pid())).hasValueSatisfying(process -> assertThat(process.isAlive()).isTrue());
        assertThat(config.modelsDir().resolve("checkpoints/slow.safetensors")).hasSize((long) chunks * CHUNK);
        assertThat(progress).anyMatch(line -> line.matches("\\d+\\. Models \\.\\.\\."))
                .anyMatch(line -> line.contains("model slow.safetensors: 50%"))
                .anyMatch(line -> line.matches("\\d+\\. Models: done in \\d+ ms.*"))
                .anyMatch(line -> line.matches("\\d+\\. Manager port: done in .*"));
        assertThat(StartupProgress.file(config.home())).doesNotExist();
    }

    @Test
    void aDaemonThatMakesNoProgressIsStoppedWithItsLogTail() throws Exception {
        chunks = 2;
        chunkDelayMillis = 30_000;
        Config config = withModelManifest();

        assertThatThrownBy(() -> DaemonLauncher.launch(config, settings, progress::add, PROGRESS_TIMEOUT))
                .isInstanceOf(DaemonException.class)
                .hasMessageContaining("made no progress for 15 s and did not listen; it was stopped")
                .hasMessageContaining("model slow.safetensors: downloading");
        assertThat(progress).anyMatch(line -> line.contains("model slow.safetensors: downloading"));
    }
}
