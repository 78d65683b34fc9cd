package dev.comfyctl.proxy;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.comfy.ComfyClient;
import dev.comfyctl.comfy.QueueStatus;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.FakeProcess;
import dev.comfyctl.testing.Http;
import dev.comfyctl.testing.Ports;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.SocketAddress;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The balancer's choice for prompts, behind a real proxy in front of two fake ComfyUI processes. */
@Timeout(60)
class BalancerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PROMPT = """
            {"prompt": {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "balanced"}}}}""";

    @TempDir
    static Path temp;

    private static final AtomicBoolean firstReady = new AtomicBoolean(true);
    private static FakeProcess first;
    private static FakeProcess second;
    private static Vertx vertx;
    private static Balancer balancer;
    private static HttpServer server;
    private static URI base;

    @BeforeAll
    static void startTwoFakesBehindOneProxy() throws Exception {
        FakeComfyUi fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        fake.behave(Map.of("prompt_seconds", 4));
        first = fake.launch(Ports.free(), "--cpu");
        second = fake.launch(Ports.free(), "--cpu");
        vertx = Vertx.vertx();
        balancer = new Balancer(List.of(backend("first", first, firstReady), backend("second", second, new AtomicBoolean(true))),
                Duration.ofMillis(100));
        ReverseProxy proxy = new ReverseProxy(vertx, balancer, Duration.ofSeconds(30), ProxyMetrics.NONE);
        server = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0)).requestHandler(proxy)
                .listen().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        base = URI.create("http://127.0.0.1:" + server.actualPort());
    }

    private static Backend backend(String name, FakeProcess process, AtomicBoolean ready) {
        ComfyClient client = ComfyClient.create(URI.create("http://127.0.0.1:" + process.port()), Duration.ofSeconds(5));
        return new Backend(name, SocketAddress.inetSocketAddress(process.port(), "127.0.0.1"), ProxyPolicy.ALWAYS_OPEN,
                ready::get, () -> {
                    QueueStatus queue = client.queue();
                    return queue.runningCount() + queue.pendingCount();
                });
    }

    @AfterAll
    static void stop() throws Exception {
        balancer.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        first.close();
        second.close();
    }

    @BeforeEach
    void emptyQueues() {
        firstReady.set(true);
        for (FakeProcess process : List.of(first, second)) {
            Http.postJson(URI.create("http://127.0.0.1:" + process.port() + "/queue"), "{\"clear\": true}");
            Http.postJson(URI.create("http://127.0.0.1:" + process.port() + "/interrupt"), "{}");
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> balancer.backends().stream().allMatch(b -> balancer.load(b) == 0));
    }

    private static String holderOf(String promptId) {
        for (FakeProcess process : List.of(first, second)) {
            if (Http.get(URI.create("http://127.0.0.1:" + process.port() + "/queue")).body().contains(promptId)) {
                return process == first ? "first" : "second";
            }
        }
        return "none";
    }

    private static String prompt() throws Exception {
        HttpResponse<String> response = Http.postJson(base.resolve("/prompt"), PROMPT);
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        assertThat(response.headers().allValues("Set-Cookie")).as("a prompt does not start a browser session").isEmpty();
        return JSON.readTree(response.body()).path("prompt_id").asText();
    }

    @Test
    void aPromptGoesToTheBackendWhoseComfyUiQueueIsShorter() throws Exception {
        URI firstPrompt = URI.create("http://127.0.0.1:" + first.port() + "/prompt");
        for (int i = 0; i < 3; i++) {
            assertThat(Http.postJson(firstPrompt, PROMPT).statusCode()).isEqualTo(200);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> balancer.load(balancer.backends().get(0)) == 3);

        assertThat(holderOf(prompt())).isEqualTo("second");
    }

    @Test
    void aBackendThatIsNotReadyGetsNoPromptWhileAnotherIs() throws Exception {
        firstReady.set(false);

        assertThat(List.of(holderOf(prompt()), holderOf(prompt()))).containsOnly("second");
    }

    @Test
    void promptsSentMomentsApartAreCountedBeforeComfyUiReportsThem() throws Exception {
        assertThat(List.of(holderOf(prompt()), holderOf(prompt()))).containsExactlyInAnyOrder("first", "second");
    }
}
