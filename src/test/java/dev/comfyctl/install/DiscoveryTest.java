package dev.comfyctl.install;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The discovery API of seed 004, served by a real local HTTP server. */
class DiscoveryTest {
    @TempDir
    Path temp;

    private HttpServer server;
    private final Map<String, String> answers = new ConcurrentHashMap<>();
    private final List<String> calls = new CopyOnWriteArrayList<>();

    @BeforeEach
    void startApi() throws Exception {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", exchange -> {
            String call = exchange.getRequestURI().getPath() + (exchange.getRequestURI().getQuery() == null ? ""
                    : "?" + exchange.getRequestURI().getQuery());
            calls.add(call);
            String body = answers.get(exchange.getRequestURI().getPath());
            byte[] bytes = (body == null ? "{\"error\": \"no such route\"}" : body).getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(body == null ? 404 : 200, bytes.length);
            exchange.getResponseBody().write(bytes);
            exchange.close();
        });
        server.start();
        answers.put("/custom-nodes/defaults", """
                {"data": [{"name": "Manager", "url": "https://x.org/manager.git", "install_order": 1},
                          {"name": "Impact", "url": "https://x.org/impact.git", "install_order": 2}]}
                """);
        answers.put("/workflows/dependencies", """
                {"custom_nodes": [{"name": "Impact", "url": "https://elsewhere.org/impact.git", "install_order": 9},
                                  {"name": "Video", "url": "https://x.org/video.git", "ref": "v3", "extra": "ignored"}],
                 "models": [{"url": "https://x.org/sdxl.safetensors", "folder": "checkpoints"}]}
                """);
        answers.put("/collections/dependencies", """
                {"custom_nodes": [{"name": "Audio", "url": "https://x.org/audio.git", "install_order": 3},
                                  {"name": "Manager", "url": "https://x.org/manager.git"}],
                 "models": [{"url": "https://mirror.org/sdxl.safetensors", "folder": "checkpoints"},
                            {"url": "https://x.org/vae.pt", "folder": "vae"}]}
                """);
    }

    @AfterEach
    void stopApi() {
        server.stop(0);
    }

    private String base() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    private ManifestSource.Api api(List<String> workflows, List<String> collections) {
        return new ManifestSource.Api(base(), workflows, collections, temp.resolve("components.json"));
    }

    @Test
    void defaultsThenWorkflowsThenCollectionsAreMergedWithoutDuplicates() {
        Manifest manifest = api(List.of("txt2img", "upscale"), List.of("c1")).load(InstallListener.NONE);

        assertThat(calls).containsExactly("/custom-nodes/defaults", "/workflows/dependencies?workflows=txt2img,upscale",
                "/collections/dependencies?collections=c1");
        assertThat(manifest.customNodes()).extracting(CustomNode::name).containsExactly("Manager", "Impact", "Audio", "Video");
        assertThat(manifest.customNodes().get(1).url()).isEqualTo("https://x.org/impact.git");
        assertThat(manifest.models()).extracting(ModelFile::destination).containsExactly("checkpoints/sdxl.safetensors", "vae/vae.pt");
        assertThat(manifest.models().get(0).url().getHost()).isEqualTo("x.org");
    }

    @Test
    void onlyTheDefaultsAreAskedForWhenNoWorkflowOrCollectionIsNamed() {
        Manifest manifest = api(List.of(), List.of()).load(InstallListener.NONE);

        assertThat(calls).containsExactly("/custom-nodes/defaults");
        assertThat(manifest.customNodes()).extracting(CustomNode::name).containsExactly("Manager", "Impact");
    }

    @Test
    void anApiErrorNamesTheCallAndTheStatus() {
        answers.remove("/workflows/dependencies");

        assertThatThrownBy(() -> api(List.of("nope"), List.of()).load(InstallListener.NONE))
                .isInstanceOf(DiscoveryClient.DiscoveryException.class)
                .hasMessageContaining("GET " + base() + "/workflows/dependencies?workflows=nope answered HTTP 404")
                .hasMessageContaining("no such route");
    }

    @Test
    void whenTheApiCannotBeReachedTheLastAnswerStandsIn() {
        Manifest online = api(List.of("txt2img"), List.of()).load(InstallListener.NONE);
        server.stop(0);

        Manifest offline = api(List.of("txt2img"), List.of()).load(InstallListener.NONE);

        assertThat(offline).isEqualTo(online);
    }

    @Test
    void anUnreachableApiWithNothingCachedIsAClearError() {
        server.stop(0);

        assertThatThrownBy(() -> api(List.of(), List.of()).load(InstallListener.NONE))
                .isInstanceOf(DiscoveryClient.DiscoveryException.class)
                .hasMessageContaining("check EMPROPS_API_URL and that the API is reachable")
                .hasMessageContaining("no earlier answer is cached");
    }

    @Test
    void aBaseUrlThatIsNotHttpIsRefused() {
        assertThatThrownBy(() -> new DiscoveryClient("ftp://example.com"))
                .hasMessageContaining("EMPROPS_API_URL 'ftp://example.com' is not an http:// or https:// URL");
    }
}
