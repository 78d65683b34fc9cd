package dev.comfyctl.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.config.Config;
import dev.comfyctl.proxy.Balancer;
import dev.comfyctl.proxy.ReverseProxy;
import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.supervisor.InstanceState;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Http;
import dev.comfyctl.testing.Ports;
import dev.comfyctl.testing.TestConfigs;
import dev.comfyctl.testing.WsRecorder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code WORKERS=comfyui:auto} with two mock GPUs: two fake ComfyUI processes behind one in-process daemon, each
 * supervised on its own, and the proxy that spreads requests over them and keeps sessions, clients and prompts
 * where they belong (issue 5, hardware detection).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(180)
class MultiInstanceDaemonTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String GPU0 = "comfyui-gpu0";
    private static final String GPU1 = "comfyui-gpu1";
    private static final String WORKFLOW = """
            {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "multi"}}}""";

    private Daemon daemon;
    private Config config;
    private URI base;

    @BeforeAll
    void startTwoInstances(@TempDir Path temp) {
        FakeComfyUi fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        fake.behave(Map.of("prompt_seconds", 1.5, "devices", FakeComfyUi.gpus(2)));
        config = TestConfigs.forFake(fake, temp.resolve("state"), "COMFYUI_PORT", Integer.toString(Ports.freeRun(2)),
                "GPU_MODE", "mock", "GPU_MOCK_COUNT", "2", "WORKERS", "comfyui:auto", "IDLE_TIMEOUT_SECONDS", "0");
        daemon = Daemon.start(config, false);
        base = URI.create("http://127.0.0.1:" + config.managerPort());
        List<CompletableFuture<?>> starts = daemon.instances().stream().<CompletableFuture<?>>map(i -> i.start(e -> { })).toList();
        starts.forEach(CompletableFuture::join);
    }

    @AfterAll
    void stopDaemon() {
        if (daemon != null) {
            daemon.close();
        }
    }

    private ComfyInstance instance(String name) {
        return daemon.instances().stream().filter(i -> i.name().equals(name)).findFirst().orElseThrow();
    }

    private URI direct(String name, String path) {
        return URI.create("http://127.0.0.1:" + instance(name).spec().port() + path);
    }

    private static JsonNode json(HttpResponse<String> response) throws Exception {
        return JSON.readTree(response.body());
    }

    private HttpResponse<String> throughProxy(String path, String instanceCookie) {
        HttpRequest.Builder request = HttpRequest.newBuilder(base.resolve(path)).GET();
        if (instanceCookie != null) {
            request.header("Cookie", Balancer.COOKIE + "=" + instanceCookie);
        }
        return Http.send(request);
    }

    private String prompt(String body) throws Exception {
        HttpResponse<String> response = Http.postJson(base.resolve("/prompt"), body);
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return json(response).path("prompt_id").asText();
    }

    /** The instance whose ComfyUI has the prompt in its queue or history. */
    private String holderOf(String promptId) throws Exception {
        List<String> holders = new ArrayList<>();
        for (ComfyInstance instance : daemon.instances()) {
            String queue = Http.get(direct(instance.name(), "/queue")).body();
            boolean inHistory = json(Http.get(direct(instance.name(), "/history/" + promptId))).has(promptId);
            if (queue.contains(promptId) || inHistory) {
                holders.add(instance.name());
            }
        }
        assertThat(holders).as("instances holding prompt " + promptId).hasSize(1);
        return holders.get(0);
    }

    @Test
    void twoMockGpusGiveTwoInstancesEachOnItsOwnGpuPortLogsAndPidFile() throws Exception {
        assertThat(daemon.instances()).extracting(ComfyInstance::name).containsExactly(GPU0, GPU1);
        for (int index = 0; index < 2; index++) {
            String name = "comfyui-gpu" + index;
            ComfyInstance instance = instance(name);
            assertThat(instance.spec().port()).isEqualTo(config.comfyPort() + index);
            JsonNode env = json(Http.get(direct(name, "/fake/env")));

            assertThat(env.path("env").path("CUDA_VISIBLE_DEVICES").asText()).isEqualTo(Integer.toString(index));
            assertThat(env.path("argv").toString()).contains("\"--port\",\"" + (config.comfyPort() + index) + "\"",
                    "\"--cuda-device\",\"" + index + "\"");
            assertThat(env.path("env").path("__COMFY_CLI_SESSION__").asText()).endsWith(name);
            assertThat(Files.readString(config.home().resolve(name + ".pid")).strip())
                    .isEqualTo(Long.toString(env.path("pid").asLong()));
            assertThat(instance.snapshot().sessionLog()).hasValueSatisfying(log ->
                    assertThat(log.getParent()).isEqualTo(config.logsDir().resolve(name)));
        }
    }

    @Test
    void statusListsEveryInstanceWithItsGpuPortAndQueue() throws Exception {
        JsonNode status = json(Http.get(base.resolve("/manager/status")));

        assertThat(status.path("daemon").path("pid").asLong()).isEqualTo(ProcessHandle.current().pid());
        JsonNode instances = status.path("instances");
        assertThat(instances).hasSize(2);
        for (int index = 0; index < 2; index++) {
            JsonNode instance = instances.get(index);
            assertThat(instance.path("name").asText()).isEqualTo("comfyui-gpu" + index);
            assertThat(instance.path("gpuIndex").asInt()).isEqualTo(index);
            assertThat(instance.path("port").asInt()).isEqualTo(config.comfyPort() + index);
            assertThat(instance.path("state").asText()).isEqualTo("READY");
            assertThat(instance.path("queue").has("running")).isTrue();
            assertThat(instance.has("restarts")).isTrue();
        }
    }

    @Test
    void metricsAreLabelledWithEachInstance() {
        String metrics = Http.get(base.resolve("/metrics")).body();

        for (String name : List.of(GPU0, GPU1)) {
            assertThat(metrics).contains("comfyctl_instance_state{instance=\"" + name + "\",state=\"READY\"} 1.0",
                    "comfyctl_instance_wakes_total{instance=\"" + name + "\"}");
        }
    }

    @Test
    void oneInstanceIsStoppedAndStartedByNameAndReadyWaitsForBoth() throws Exception {
        assertThat(Http.get(base.resolve("/ready")).statusCode()).isEqualTo(200);
        long gpu0Pid = instance(GPU0).snapshot().pid().orElseThrow();

        HttpResponse<String> stopped = Http.postJson(base.resolve("/manager/stop?instance=" + GPU1), "");

        assertThat(stopped.statusCode()).as(stopped.body()).isEqualTo(200);
        assertThat(json(stopped).path("wasRunning").asBoolean()).isTrue();
        assertThat(instance(GPU1).state()).isEqualTo(InstanceState.STOPPED);
        assertThat(instance(GPU0).snapshot().pid()).hasValue(gpu0Pid);
        HttpResponse<String> notReady = Http.get(base.resolve("/ready"));
        assertThat(notReady.statusCode()).isEqualTo(503);
        assertThat(notReady.body()).contains(GPU1).doesNotContain(GPU0);

        HttpResponse<String> started = Http.postJson(base.resolve("/manager/start?instance=" + GPU1), "");

        assertThat(started.statusCode()).as(started.body()).isEqualTo(200);
        assertThat(instance(GPU1).state()).isEqualTo(InstanceState.READY);
        assertThat(Http.get(base.resolve("/ready")).statusCode()).isEqualTo(200);
    }

    @Test
    void anUnknownInstanceIs404WithTheValidNames() throws Exception {
        HttpResponse<String> response = Http.postJson(base.resolve("/manager/stop?instance=comfyui-gpu7"), "");

        assertThat(response.statusCode()).isEqualTo(404);
        assertThat(json(response).path("error").asText()).contains("comfyui-gpu7", GPU0, GPU1);
        assertThat(daemon.instances()).allSatisfy(i -> assertThat(i.state()).isEqualTo(InstanceState.READY));
    }

    @Test
    void aBrowserSessionGetsACookieAndStaysOnItsInstance() throws Exception {
        HttpResponse<String> first = throughProxy("/fake/env", null);

        String cookie = first.headers().allValues("Set-Cookie").stream().filter(c -> c.startsWith(Balancer.COOKIE + "="))
                .findFirst().orElseThrow();
        String chosen = cookie.substring(Balancer.COOKIE.length() + 1, cookie.indexOf(';'));
        long chosenPid = instance(chosen).snapshot().pid().orElseThrow();
        assertThat(json(first).path("pid").asLong()).isEqualTo(chosenPid);
        for (int i = 0; i < 5; i++) {
            HttpResponse<String> again = throughProxy("/fake/env", chosen);
            assertThat(json(again).path("pid").asLong()).isEqualTo(chosenPid);
            assertThat(again.headers().allValues("Set-Cookie")).isEmpty();
        }
        String other = chosen.equals(GPU0) ? GPU1 : GPU0;
        assertThat(json(throughProxy("/fake/env", other)).path("pid").asLong())
                .isEqualTo(instance(other).snapshot().pid().orElseThrow());
    }

    @Test
    void twoPromptsWithoutAClientIdGoToBothInstances() throws Exception {
        String first = prompt("{\"prompt\": " + WORKFLOW + "}");
        String second = prompt("{\"prompt\": " + WORKFLOW + "}");

        assertThat(List.of(holderOf(first), holderOf(second))).containsExactlyInAnyOrder(GPU0, GPU1);
    }

    @Test
    void aPromptGoesWhereItsClientsWebSocketIsAndItsProgressReachesIt() throws Exception {
        for (String name : List.of(GPU1, GPU0)) {
            String clientId = "client-on-" + name;
            try (WsRecorder ws = WsRecorder.connect(Http.CLIENT, Http.ws(base.resolve("/ws?clientId=" + clientId)),
                    Map.of("Cookie", Balancer.COOKIE + "=" + name))) {
                await().atMost(Duration.ofSeconds(10)).until(() -> ws.types().contains("status"));

                String promptId = prompt("{\"prompt\": " + WORKFLOW + ", \"client_id\": \"" + clientId + "\"}");

                assertThat(holderOf(promptId)).isEqualTo(name);
                await().atMost(Duration.ofSeconds(20)).until(() -> ws.messages().stream().anyMatch(m ->
                        m.path("type").asText().equals("execution_success") && m.path("data").path("prompt_id").asText().equals(promptId)));
            }
        }
    }

    @Test
    void requestsAboutAPromptGoToTheInstanceThatTookItWhateverTheCookie() throws Exception {
        String promptId = prompt("{\"prompt\": " + WORKFLOW + "}");
        String holder = holderOf(promptId);
        String other = holder.equals(GPU0) ? GPU1 : GPU0;

        await().atMost(Duration.ofSeconds(20)).untilAsserted(() ->
                assertThat(json(throughProxy("/history/" + promptId, other)).has(promptId)).isTrue());
        assertThat(json(throughProxy("/api/history/" + promptId, other)).has(promptId)).isTrue();
        assertThat(json(Http.get(direct(other, "/history/" + promptId))).has(promptId)).isFalse();
    }

    @Test
    void aPromptBodyLargerThanTheRoutingLimitIs413() {
        String padding = "x".repeat(ReverseProxy.MAX_ROUTED_BODY);
        HttpResponse<String> response = Http.postJson(base.resolve("/prompt"), "{\"prompt\": {}, \"pad\": \"" + padding + "\"}");

        assertThat(response.statusCode()).isEqualTo(413);
        assertThat(response.body()).contains("16 MiB", "/upload/image");
    }

    @Test
    void aKilledInstanceIsRestartedWhileTheOtherKeepsServingThroughTheProxy() throws Exception {
        JsonNode before = json(Http.get(base.resolve("/manager/status"))).path("instances");
        long survivorPid = instance(GPU0).snapshot().pid().orElseThrow();
        long killedPid = instance(GPU1).snapshot().pid().orElseThrow();

        ProcessHandle.of(killedPid).orElseThrow().destroyForcibly();

        List<Integer> survivorAnswers = new CopyOnWriteArrayList<>();
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).until(() -> {
            HttpResponse<String> served = throughProxy("/fake/env", GPU0);
            survivorAnswers.add(served.statusCode() == 200 && json(served).path("pid").asLong() == survivorPid ? 200 : served.statusCode());
            return instance(GPU1).state() == InstanceState.READY && instance(GPU1).snapshot().pid().orElse(killedPid) != killedPid;
        });
        assertThat(survivorAnswers).isNotEmpty().containsOnly(200);
        assertThat(json(throughProxy("/fake/env", GPU1)).path("env").path("CUDA_VISIBLE_DEVICES").asText()).isEqualTo("1");
        JsonNode status = json(Http.get(base.resolve("/manager/status")));
        assertThat(status.path("instances").get(1).path("restarts").asInt()).isEqualTo(before.get(1).path("restarts").asInt() + 1);
        assertThat(status.path("instances").get(0).path("restarts").asInt()).isEqualTo(before.get(0).path("restarts").asInt());
    }
}
