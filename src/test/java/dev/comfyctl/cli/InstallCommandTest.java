package dev.comfyctl.cli;

import com.sun.net.httpserver.HttpServer;
import dev.comfyctl.testing.Ports;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code comfyctl install} as a real process: a custom node from a local git repository, a model from a local server. */
@Timeout(180)
class InstallCommandTest {
    private static final byte[] MODEL = "not really a checkpoint, but bytes all the same\n".repeat(1000).getBytes(StandardCharsets.UTF_8);

    @TempDir
    Path temp;

    private HttpServer server;
    private Path comfyDir;
    private Path origin;
    private Comfyctl comfyctl;

    @BeforeEach
    void setUp() throws Exception {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/sdxl.safetensors", exchange -> {
            exchange.sendResponseHeaders(200, MODEL.length);
            exchange.getResponseBody().write(MODEL);
            exchange.close();
        });
        server.start();
        comfyDir = temp.resolve("ComfyUI");
        Files.createDirectories(comfyDir);
        origin = temp.resolve("origins/ComfyUI-Tiny");
        Files.createDirectories(origin);
        Files.writeString(origin.resolve("__init__.py"), "NODE_CLASS_MAPPINGS = {}\n");
        git("init", "--quiet");
        git("add", ".");
        git("commit", "--quiet", "-m", "first");
        git("tag", "v1");
        comfyctl = new Comfyctl(temp, Map.of("COMFYCTL_HOME", temp.resolve("state").toString(), "COMFYUI_DIR", comfyDir.toString(),
                "PIP_CONFIG_FILE", "/dev/null"));
    }

    @AfterEach
    void stopServer() {
        server.stop(0);
    }

    private void git(String... arguments) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of("git", "-C", origin.toString(), "-c", "user.name=test", "-c",
                "user.email=test@example.com"));
        command.addAll(List.of(arguments));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).as(new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8)).isZero();
    }

    private Path manifest(String modelPath, String sha256) throws Exception {
        Path manifest = temp.resolve("components.yaml");
        Files.writeString(manifest, """
                custom_nodes:
                  - name: ComfyUI-Tiny
                    url: %s
                    ref: v1
                    install_order: 1
                models:
                  - url: http://127.0.0.1:%d%s
                    folder: checkpoints
                    filename: sdxl.safetensors
                    sha256: %s
                """.formatted(origin.toUri(), server.getAddress().getPort(), modelPath, sha256));
        return manifest;
    }

    private static String sha256(byte[] content) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content));
    }

    @Test
    void installPrintsEachStepAndASecondRunSkipsEverything() throws Exception {
        Path manifest = manifest("/sdxl.safetensors", sha256(MODEL));

        Comfyctl.Result first = comfyctl.run("install", "--manifest", manifest.toString());

        assertThat(first.exitCode()).as(first.err()).isZero();
        assertThat(first.out()).contains("1 custom nodes, 1 models from manifest " + manifest,
                "custom node ComfyUI-Tiny", "installed at v1", "model checkpoints/sdxl.safetensors", "sha256 checked",
                "custom nodes: 1 installed, 0 up to date; models: 1 downloaded, 0 present");
        assertThat(comfyDir.resolve("custom_nodes/ComfyUI-Tiny/__init__.py")).exists();
        assertThat(Files.readAllBytes(comfyDir.resolve("models/checkpoints/sdxl.safetensors"))).isEqualTo(MODEL);

        Comfyctl.Result second = comfyctl.with("COMPONENT_MANIFEST", manifest.toString()).run("install");

        assertThat(second.exitCode()).as(second.err()).isZero();
        assertThat(second.out()).contains("already at v1", "present with the right sha256",
                "custom nodes: 0 installed, 1 up to date; models: 0 downloaded, 1 present");
    }

    @Test
    void aFailedDownloadExitsWithOneAndSaysWhatFailed() throws Exception {
        Path manifest = manifest("/missing.safetensors", sha256(MODEL));

        Comfyctl.Result result = comfyctl.run("install", "--manifest", manifest.toString());

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.out()).contains("installed at v1", "x model checkpoints/sdxl.safetensors");
        assertThat(result.err()).contains("comfyctl: error: custom nodes: 1 installed", "1 failed: model checkpoints/sdxl.safetensors",
                "answered HTTP 404 (not found); fix the model's URL in the manifest");
        assertThat(comfyDir.resolve("models/checkpoints")).isEmptyDirectory();
    }

    @Test
    void anInvalidManifestExitsWithTwoNamingTheEntry() throws Exception {
        Path manifest = temp.resolve("bad.yaml");
        Files.writeString(manifest, "custom_nodes:\n  - name: NoUrl\n");

        Comfyctl.Result result = comfyctl.run("install", "--manifest", manifest.toString());

        assertThat(result.exitCode()).isEqualTo(2);
        assertThat(result.err()).contains("manifest " + manifest + ": custom_nodes[0] (NoUrl) has no 'url'");
        assertThat(comfyDir.resolve("custom_nodes")).doesNotExist();
    }

    @Test
    void withoutAManifestOrAnApiThereIsNothingToInstall() {
        Comfyctl.Result result = comfyctl.run("install");

        assertThat(result.exitCode()).isEqualTo(2);
        assertThat(result.err()).contains("nothing to install: give --manifest FILE or --api URL");
    }

    @Test
    void aDryRunPrintsThePlanAndChangesNothing() throws Exception {
        Path manifest = manifest("/sdxl.safetensors", sha256(MODEL));

        Comfyctl.Result result = comfyctl.run("install", "--manifest", manifest.toString(), "--dry-run");

        assertThat(result.exitCode()).as(result.err()).isZero();
        assertThat(result.out()).contains("+ custom node ComfyUI-Tiny", "would clone " + origin.toUri() + " at v1",
                "would download http://127.0.0.1:", "2 to do (dry run)");
        assertThat(comfyDir.resolve("custom_nodes")).doesNotExist();
        assertThat(comfyDir.resolve("models")).doesNotExist();
    }

    @Test
    void serveRefusesToStartWithAnInvalidManifest() throws Exception {
        Path manifest = temp.resolve("bad.json");
        Files.writeString(manifest, "{\"models\": [{\"url\": \"http://x.org/a.bin\"}]}");

        Comfyctl.Result result = comfyctl.with("COMPONENT_MANIFEST", manifest.toString())
                .with("MANAGER_PORT", Integer.toString(Ports.free())).with("GPU_MODE", "cpu").run("serve");

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.err()).contains("the daemon could not start", "manifest " + manifest + ": models[0] (a.bin) has no 'folder'");
    }
}
