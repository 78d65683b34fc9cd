package dev.comfyctl.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FakeComfyUiTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration LONG = Duration.ofSeconds(20);
    private static final String EMPTY_IMAGE_WORKFLOW = """
            {"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 32, "batch_size": 1, "color": 16711680}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "comfyctl"}}}""";

    @TempDir
    Path tmp;

    private FakeComfyUi fake;
    private FakeProcess running;
    private int port;

    @BeforeEach
    void installFake() {
        fake = FakeComfyUi.install(tmp.resolve("ComfyUI"));
        port = Ports.free();
    }

    @AfterEach
    void killFake() {
        if (running != null) {
            running.close();
        }
    }

    @Test
    void installLaysOutAComfyUiDirectoryWithAVenvPython() {
        assertThat(fake.dir().resolve("main.py")).isRegularFile();
        assertThat(fake.dir().resolve("requirements.txt")).isRegularFile();
        assertThat(fake.dir().resolve("models/checkpoints")).isDirectory();
        assertThat(fake.dir().resolve("custom_nodes")).isDirectory();
        assertThat(Files.isSymbolicLink(fake.python())).isTrue();
        assertThat(fake.python()).isExecutable();
        assertThat(fake.starts()).isEmpty();
    }

    @Test
    void startsPrintsTheGuiLineAndAnswersSystemStatsWithItsRealArgv() throws Exception {
        running = fake.launch(port, "--lowvram");

        JsonNode stats = json(Http.get(uri("system_stats")));
        assertThat(stats.at("/system/argv")).extracting(JsonNode::asText)
                .containsExactly("main.py", "--port", String.valueOf(port), "--lowvram");
        assertThat(stats.at("/devices/0/name").asText()).isEqualTo("cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync");
        assertThat(stats.at("/devices/0/vram_total").asLong()).isEqualTo(24564L * 1024 * 1024);
        assertThat(running.output())
                .contains("Set vram state to: LOW_VRAM", "Starting server",
                        "To see the GUI go to: http://127.0.0.1:" + port);
        assertThat(fake.starts()).singleElement().asString().contains(" " + running.pid() + " main.py --port " + port);
    }

    @Test
    void startsWhenLaunchedByAbsolutePathFromAnotherDirectory() throws Exception {
        ProcessBuilder builder = new ProcessBuilder(fake.python().toString(), fake.dir().resolve("main.py").toString(),
                "--port", String.valueOf(port)).directory(tmp.toFile());
        builder.redirectOutput(tmp.resolve("out.log").toFile()).redirectErrorStream(true);
        Process process = builder.start();
        try {
            await().atMost(LONG).ignoreExceptions().until(() -> Http.get(uri("system_stats")).statusCode() == 200);
            assertThat(fake.starts()).hasSize(1);
        } finally {
            process.destroyForcibly().waitFor();
        }
    }

    @Test
    void devicesFromFakeJsonAreFilteredByCudaVisibleDevices() throws Exception {
        fake.behave(Map.of("devices", List.of(
                Map.of("name", "GPU Zero", "vram_total", 1000, "vram_free", 900),
                Map.of("name", "GPU One", "vram_total", 2000, "vram_free", 1500))));
        running = fake.launch(port, Map.of("CUDA_VISIBLE_DEVICES", "1"));

        JsonNode devices = json(Http.get(uri("system_stats"))).get("devices");

        assertThat(devices).hasSize(1);
        assertThat(devices.at("/0/name").asText()).isEqualTo("cuda:0 GPU One : cudaMallocAsync");
        assertThat(devices.at("/0/vram_free").asLong()).isEqualTo(1500);
    }

    @Test
    void twoMemoryFlagsAreRejectedWithExitCode2() {
        running = fake.start(port, "--lowvram", "--highvram");

        assertThat(running.awaitExit(LONG)).isEqualTo(2);
        assertThat(running.errors()).contains("usage:", "not allowed with argument");
    }

    @Test
    void anUnknownFlagIsRejectedWithExitCode2AndUsage() {
        running = fake.start(port, "--no-such-flag");

        assertThat(running.awaitExit(LONG)).isEqualTo(2);
        assertThat(running.errors()).contains("usage:", "unrecognized arguments: --no-such-flag");
        assertThat(fake.starts()).hasSize(1);
    }

    @Test
    void startupDelayKeepsThePortClosedUntilTheImportsAreDone() {
        fake.behave(Map.of("startup_delay_seconds", 3));
        running = fake.start(port);

        await().atMost(LONG).until(() -> running.output().contains("Set vram state to: NORMAL_VRAM"));
        assertThatThrownBy(() -> Http.get(uri("system_stats"))).hasCauseInstanceOf(ConnectException.class);
        running.awaitReady(LONG);
        assertThat(running.output()).contains("Starting server");
    }

    @Test
    void exitAtStartupExitsWithThatCodeBeforeListening() {
        fake.behave(Map.of("exit_at_startup", 3));
        running = fake.start(port);

        assertThat(running.awaitExit(LONG)).isEqualTo(3);
        assertThat(running.output()).doesNotContain("Starting server");
        assertThat(fake.starts()).hasSize(1);
    }

    @Test
    void withNoVisibleGpuItCrashesAtStartupUnlessToldToUseTheCpu() {
        running = fake.start(port, Map.of("CUDA_VISIBLE_DEVICES", ""));
        assertThat(running.awaitExit(LONG)).isEqualTo(1);
        assertThat(running.errors()).contains("RuntimeError: No CUDA GPUs are available");
        running.close();

        running = fake.launch(port, Map.of("CUDA_VISIBLE_DEVICES", ""), "--cpu");
        assertThat(running.output()).contains("Device: cpu");
    }

    @Test
    void aBrokenCustomNodeIsReportedAndStartupContinues() throws Exception {
        Files.createDirectories(fake.dir().resolve("custom_nodes/broken-node"));
        Files.createFile(fake.dir().resolve("custom_nodes/broken-node/fake-import-fail"));
        Files.createDirectories(fake.dir().resolve("custom_nodes/good-node"));

        running = fake.launch(port);

        assertThat(running.output()).contains("(IMPORT FAILED): " + fake.dir().resolve("custom_nodes/broken-node"))
                .contains("0.0 seconds: " + fake.dir().resolve("custom_nodes/good-node"));
    }

    @Test
    void crashAfterSecondsExitsWithTheConfiguredCodeOnceReady() {
        fake.behave(Map.of("crash_after_seconds", 1, "crash_exit_code", 7));
        running = fake.launch(port);

        assertThat(running.awaitExit(LONG)).isEqualTo(7);
    }

    @Test
    void sigtermKillsAtOnceByDefault() {
        running = fake.launch(port);

        running.process().destroy();

        assertThat(running.awaitExit(LONG)).isEqualTo(128 + 15);
    }

    @Test
    void ignoreSigtermSurvivesSigtermButNotSigkill() {
        fake.behave(Map.of("ignore_sigterm", true));
        running = fake.launch(port);

        running.process().destroy();
        assertThat(Http.get(uri("system_stats")).statusCode()).isEqualTo(200);
        assertThat(running.process().isAlive()).isTrue();

        running.process().destroyForcibly();
        assertThat(running.awaitExit(LONG)).isEqualTo(128 + 9);
    }

    @Test
    void spawnChildLeavesAChildProcessThatLivesUntilKilled() {
        fake.behave(Map.of("spawn_child", true));
        running = fake.launch(port);

        long childPid = fake.childPid().orElseThrow();
        ProcessHandle child = ProcessHandle.of(childPid).orElseThrow();
        assertThat(child.isAlive()).isTrue();
        assertThat(child.parent().map(ProcessHandle::pid)).contains(running.pid());

        running.close();
        await().atMost(LONG).until(() -> !child.isAlive());
    }

    @Test
    void aPromptRunsEndToEndWithWebSocketMessagesInComfyUisOrder() throws Exception {
        running = fake.launch(port);
        try (WsRecorder ws = WsRecorder.connect(Http.CLIENT, Http.ws(uri("ws?clientId=tester")))) {
            await().atMost(LONG).until(() -> !ws.messages().isEmpty());
            assertThat(ws.messages().get(0).at("/data/sid").asText()).isEqualTo("tester");

            JsonNode accepted = json(Http.postJson(uri("prompt"),
                    "{\"prompt\": " + EMPTY_IMAGE_WORKFLOW + ", \"client_id\": \"tester\"}"));
            String promptId = accepted.get("prompt_id").asText();
            assertThat(accepted.get("node_errors").isEmpty()).isTrue();

            await().atMost(LONG).until(() -> ws.messages().stream().anyMatch(FakeComfyUiTest::isFinalExecuting));
            List<String> promptTypes = ws.messages().stream()
                    .filter(m -> promptId.equals(m.at("/data/prompt_id").asText()))
                    .map(m -> m.get("type").asText())
                    .distinct()
                    .toList();
            assertThat(promptTypes).containsExactly("execution_start", "execution_cached", "executing", "progress",
                    "executed", "execution_success");
            assertThat(ws.messages().get(ws.messages().size() - 1).at("/data/node").isNull()).isTrue();
            JsonNode executed = ws.messages().stream().filter(m -> m.get("type").asText().equals("executed"))
                    .findFirst().orElseThrow();
            assertThat(executed.at("/data/output/images/0/filename").asText()).isEqualTo("comfyctl_00001_.png");
            assertThat(ws.types()).contains("status");
        }

        JsonNode history = json(Http.get(uri("history")));
        JsonNode entry = history.elements().next();
        assertThat(entry.at("/status/status_str").asText()).isEqualTo("success");
        assertThat(entry.at("/outputs/2/images/0/filename").asText()).isEqualTo("comfyctl_00001_.png");
    }

    @Test
    void withCacheNodesARepeatedPromptTakesItsNodesFromTheCacheAndKeepsTheirOutputsInTheHistoryOnly() throws Exception {
        fake.behave(Map.of("cache_nodes", true));
        running = fake.launch(port);
        try (WsRecorder ws = WsRecorder.connect(Http.CLIENT, Http.ws(uri("ws?clientId=tester")))) {
            await().atMost(LONG).until(() -> !ws.messages().isEmpty());
            String body = "{\"prompt\": " + EMPTY_IMAGE_WORKFLOW + ", \"client_id\": \"tester\"}";
            String first = json(Http.postJson(uri("prompt"), body)).get("prompt_id").asText();
            await().atMost(LONG).until(() -> json(Http.get(uri("history/" + first))).has(first));
            String again = json(Http.postJson(uri("prompt"), body)).get("prompt_id").asText();
            await().atMost(LONG).until(() -> json(Http.get(uri("history/" + again))).has(again));

            List<JsonNode> messages = ws.messages().stream().filter(m -> again.equals(m.at("/data/prompt_id").asText())).toList();
            JsonNode cached = messages.stream().filter(m -> m.get("type").asText().equals("execution_cached")).findFirst().orElseThrow();
            assertThat(cached.at("/data/nodes")).extracting(JsonNode::asText).containsExactly("1", "2");
            assertThat(messages).extracting(m -> m.get("type").asText()).doesNotContain("executed", "progress");
            assertThat(messages).filteredOn(m -> m.get("type").asText().equals("executing"))
                    .allMatch(m -> m.at("/data/node").isNull());
        }
        JsonNode history = json(Http.get(uri("history")));
        assertThat(history).hasSize(2);
        history.forEach(entry -> assertThat(entry.at("/outputs/2/images/0/filename").asText()).isEqualTo("comfyctl_00001_.png"));
        assertThat(fake.dir().resolve("output/comfyctl_00002_.png")).doesNotExist();
    }

    @Test
    void viewServesTheProducedPngAndRefusesTraversal() throws Exception {
        running = fake.launch(port);
        String promptId = json(Http.postJson(uri("prompt"), "{\"prompt\": " + EMPTY_IMAGE_WORKFLOW + "}"))
                .get("prompt_id").asText();
        await().atMost(LONG).until(() -> json(Http.get(uri("history/" + promptId))).has(promptId));

        HttpResponse<byte[]> png = Http.CLIENT.send(
                HttpRequest.newBuilder(uri("view?filename=comfyctl_00001_.png&type=output")).build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertThat(png.statusCode()).isEqualTo(200);
        assertThat(png.headers().firstValue("Content-Type")).contains("image/png");
        ByteBuffer bytes = ByteBuffer.wrap(png.body());
        assertThat(new String(png.body(), 1, 3, StandardCharsets.US_ASCII)).isEqualTo("PNG");
        assertThat(bytes.getInt(16)).as("width").isEqualTo(64);
        assertThat(bytes.getInt(20)).as("height").isEqualTo(32);
        assertThat(fake.dir().resolve("output/comfyctl_00001_.png")).hasBinaryContent(png.body());

        assertThat(Http.get(uri("view?filename=nothing.png")).statusCode()).isEqualTo(404);
        assertThat(Http.get(uri("view?filename=..%2Fmain.py")).statusCode()).isEqualTo(400);
        assertThat(Http.get(uri("view?filename=main.py&subfolder=..")).statusCode()).isEqualTo(403);
    }

    @Test
    void anInvalidPromptIsRejectedWith400AndNodeErrors() throws Exception {
        running = fake.launch(port);

        HttpResponse<String> missingInput = Http.postJson(uri("prompt"), """
                {"prompt": {"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "batch_size": 1, "color": 0}},
                            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}}}""");
        assertThat(missingInput.statusCode()).isEqualTo(400);
        JsonNode body = json(missingInput);
        assertThat(body.at("/error/type").asText()).isEqualTo("prompt_outputs_failed_validation");
        assertThat(body.at("/node_errors/1/errors/0/type").asText()).isEqualTo("required_input_missing");
        assertThat(body.at("/node_errors/1/errors/0/details").asText()).isEqualTo("height");
        assertThat(body.at("/node_errors/1/dependent_outputs/0").asText()).isEqualTo("2");
        assertThat(body.at("/node_errors/1/class_type").asText()).isEqualTo("EmptyImage");

        HttpResponse<String> unknownClass = Http.postJson(uri("prompt"),
                "{\"prompt\": {\"1\": {\"class_type\": \"KSampler\", \"inputs\": {}}}}");
        assertThat(unknownClass.statusCode()).isEqualTo(400);
        assertThat(json(unknownClass).at("/error/message").asText())
                .isEqualTo("Cannot execute because node KSampler does not exist.");
    }

    @Test
    void aForeignOriginOnALoopbackHostIsRefusedWith403() {
        running = fake.launch(port);

        HttpResponse<String> foreign = Http.send(HttpRequest.newBuilder(uri("system_stats"))
                .header("Origin", "http://evil.example"));
        HttpResponse<String> same = Http.send(HttpRequest.newBuilder(uri("system_stats"))
                .header("Origin", "http://127.0.0.1:" + port));

        assertThat(foreign.statusCode()).isEqualTo(403);
        assertThat(same.statusCode()).isEqualTo(200);
    }

    @Test
    void everyApiRouteAlsoAnswersUnderApiButFakeControlsDoNot() {
        running = fake.launch(port);

        assertThat(Http.get(uri("api/system_stats")).statusCode()).isEqualTo(200);
        assertThat(Http.get(uri("api/prompt")).body()).contains("queue_remaining");
        assertThat(Http.get(uri("api/object_info/SaveImage")).body()).contains("\"output_node\": true");
        assertThat(Http.get(uri("api/manager/version")).body()).startsWith("V");
        assertThat(Http.get(uri("api/fake/env")).statusCode()).isEqualTo(404);
        assertThat(Http.get(uri("api/")).statusCode()).isEqualTo(404);
        try (WsRecorder ws = WsRecorder.connect(Http.CLIENT, Http.ws(uri("api/ws")))) {
            await().atMost(LONG).until(() -> ws.types().contains("status"));
            assertThat(ws.messages().get(0).at("/data/sid").asText()).isNotEmpty();
        }
    }

    @Test
    void patchIsCarriedLikeAnyOtherMethod() throws Exception {
        running = fake.launch(port);

        HttpResponse<String> subscribe = Http.send(HttpRequest.newBuilder(uri("internal/logs/subscribe"))
                .method("PATCH", HttpRequest.BodyPublishers.ofString("{\"enabled\": true, \"clientId\": \"x\"}")));
        HttpResponse<String> echo = Http.send(HttpRequest.newBuilder(uri("fake/echo/deep/path?a=1"))
                .header("X-Test", "yes")
                .method("PATCH", HttpRequest.BodyPublishers.ofString("12345")));

        assertThat(subscribe.statusCode()).isEqualTo(200);
        JsonNode echoed = json(echo);
        assertThat(echoed.get("method").asText()).isEqualTo("PATCH");
        assertThat(echoed.get("path").asText()).isEqualTo("/fake/echo/deep/path");
        assertThat(echoed.get("query").asText()).isEqualTo("a=1");
        assertThat(echoed.at("/headers/x-test").asText()).isEqualTo("yes");
        assertThat(echoed.get("body_length").asInt()).isEqualTo(5);
    }

    @Test
    void managerRebootWithACliSessionCreatesTheMarkerAndExitsZeroWithoutAnswering() {
        Path session = tmp.resolve("session-1234");
        running = fake.launch(port, Map.of("__COMFY_CLI_SESSION__", session.toString()));

        assertThatThrownBy(() -> Http.get(uri("api/manager/reboot"))).isInstanceOf(UncheckedIOException.class);

        assertThat(running.awaitExit(LONG)).isZero();
        assertThat(tmp.resolve("session-1234.reboot")).isEmptyFile();
    }

    @Test
    void managerRebootWithoutACliSessionReplacesItselfUnderTheSamePid() {
        running = fake.launch(port);

        assertThatThrownBy(() -> Http.send(HttpRequest.newBuilder(uri("v2/manager/reboot"))
                .POST(HttpRequest.BodyPublishers.noBody()))).isInstanceOf(UncheckedIOException.class);

        await().atMost(LONG).until(() -> fake.starts().size() == 2);
        running.awaitReady(LONG);
        assertThat(running.process().isAlive()).isTrue();
        assertThat(fake.starts()).allSatisfy(line -> assertThat(line.split(" ")[1]).isEqualTo(String.valueOf(running.pid())));
    }

    @Test
    void uploadedImagesLandInInputAndBecomeLoadImageChoices() throws Exception {
        running = fake.launch(port);
        String boundary = "----comfyctl";
        byte[] image = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0, 1, 2};
        byte[] head = ("--" + boundary + "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"in.png\"\r\n"
                + "Content-Type: image/png\r\n\r\n").getBytes(StandardCharsets.UTF_8);
        byte[] tail = ("\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"subfolder\"\r\n\r\nsub\r\n--"
                + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8);
        HttpResponse<String> upload = Http.send(HttpRequest.newBuilder(uri("upload/image"))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArrays(List.of(head, image, tail))));

        assertThat(json(upload).get("name").asText()).isEqualTo("in.png");
        assertThat(fake.dir().resolve("input/sub/in.png")).hasBinaryContent(image);
        assertThat(Http.get(uri("object_info/LoadImage")).body()).contains("sub/in.png");
    }

    @Test
    void modelsListsTheFilesUnderModelsFolder() throws Exception {
        fake.addModel("checkpoints", "sd15.safetensors", 16);
        fake.addModel("checkpoints", "notes.txt", 1);
        running = fake.launch(port);

        assertThat(json(Http.get(uri("models/checkpoints")))).extracting(JsonNode::asText)
                .containsExactly("sd15.safetensors");
        assertThat(Http.get(uri("models/nonsense")).statusCode()).isEqualTo(404);
    }

    @Test
    void fakeEnvReportsArgvPidAndComfyEnvironment() throws Exception {
        running = fake.launch(port, Map.of("COMFY_TEST", "1", "FAKE_X", "2", "UNRELATED", "3"));

        JsonNode env = json(Http.get(uri("fake/env")));

        assertThat(env.get("pid").asLong()).isEqualTo(running.pid());
        assertThat(env.at("/env/COMFY_TEST").asText()).isEqualTo("1");
        assertThat(env.at("/env/FAKE_X").asText()).isEqualTo("2");
        assertThat(env.at("/env/PYTHONUNBUFFERED").asText()).isEqualTo("1");
        assertThat(env.get("env").has("UNRELATED")).isFalse();
    }

    @Test
    void reconnectingWithTheSameClientIdReplacesTheOldSocketAndResendsTheRunningNode() throws Exception {
        fake.behave(Map.of("prompt_seconds", 60));
        running = fake.launch(port);
        try (WsRecorder first = WsRecorder.connect(Http.CLIENT, Http.ws(uri("ws?clientId=same")))) {
            Http.postJson(uri("prompt"), "{\"prompt\": " + EMPTY_IMAGE_WORKFLOW + ", \"client_id\": \"same\"}");
            await().atMost(LONG).until(() -> first.types().contains("executing"));

            try (WsRecorder second = WsRecorder.connect(Http.CLIENT, Http.ws(uri("ws?clientId=same")))) {
                await().atMost(LONG).until(() -> second.types().size() >= 2);
                assertThat(second.types()).startsWith("status", "executing");
                assertThat(second.messages().get(1).at("/data/node").asText()).isEqualTo("1");

                Http.postJson(uri("interrupt"), "{}");

                await().atMost(LONG).until(() -> second.types().contains("execution_interrupted"));
                assertThat(first.types()).doesNotContain("execution_interrupted");
            }
        }
    }

    @Test
    void previewsArriveAsBinaryFramesWhenAPreviewMethodIsSet() {
        running = fake.launch(port, "--preview-method", "auto");
        try (WsRecorder ws = WsRecorder.connect(Http.CLIENT, Http.ws(uri("ws?clientId=viewer")))) {
            Http.postJson(uri("prompt"), "{\"prompt\": " + EMPTY_IMAGE_WORKFLOW + ", \"client_id\": \"viewer\"}");

            await().atMost(LONG).until(() -> !ws.binaries().isEmpty());
            ByteBuffer frame = ByteBuffer.wrap(ws.binaries().get(0));
            assertThat(frame.getInt(0)).as("event type: preview image").isEqualTo(1);
            assertThat(frame.getInt(4)).as("image format: PNG").isEqualTo(2);
            assertThat(new String(ws.binaries().get(0), 9, 3, StandardCharsets.US_ASCII)).isEqualTo("PNG");
        }
    }

    @Test
    void hangAfterSecondsKeepsTheProcessAliveButAnswersNothing() {
        fake.behave(Map.of("hang_after_seconds", 1));
        running = fake.launch(port);
        HttpRequest.Builder probe = HttpRequest.newBuilder(uri("system_stats")).timeout(Duration.ofMillis(500));

        await().atMost(LONG).ignoreExceptions().until(() -> {
            try {
                Http.CLIENT.send(probe.build(), HttpResponse.BodyHandlers.discarding());
                return false;
            } catch (HttpTimeoutException e) {
                return true;
            }
        });
        assertThat(running.process().isAlive()).isTrue();
    }

    @Test
    void crashEndpointExitsWithTheGivenCode() {
        running = fake.launch(port);

        Http.send(HttpRequest.newBuilder(uri("fake/crash?code=42")).POST(HttpRequest.BodyPublishers.noBody()));

        assertThat(running.awaitExit(LONG)).isEqualTo(42);
    }

    @Test
    void sigintStopsTheServerCleanly() throws Exception {
        running = fake.launch(port);

        new ProcessBuilder("kill", "-INT", String.valueOf(running.pid())).start().waitFor();

        assertThat(running.awaitExit(LONG)).isZero();
        assertThat(running.output()).contains("Stopped server");
    }

    @Test
    void bigBodiesStreamBothWaysWithLengthOrChunked() throws Exception {
        running = fake.launch(port);
        int size = 5 * 1024 * 1024 + 7;
        byte[] expected = new byte[size];
        for (int i = 0; i < size; i++) {
            expected[i] = (byte) i;
        }

        for (String chunked : List.of("0", "1")) {
            HttpResponse<byte[]> download = Http.CLIENT.send(
                    HttpRequest.newBuilder(uri("fake/bytes?n=" + size + "&chunked=" + chunked)).build(),
                    HttpResponse.BodyHandlers.ofByteArray());
            assertThat(download.body()).isEqualTo(expected);
            assertThat(download.headers().firstValue("Content-Length").isPresent()).isEqualTo(chunked.equals("0"));
        }
        JsonNode sunk = json(Http.send(HttpRequest.newBuilder(uri("fake/sink"))
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(expected)))));
        assertThat(sunk.get("bytes").asLong()).isEqualTo(size);
        assertThat(sunk.get("sha256").asText()).isEqualTo(
                HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(expected)));
    }

    private static boolean isFinalExecuting(JsonNode message) {
        return message.get("type").asText().equals("executing") && message.at("/data/node").isNull();
    }

    private URI uri(String path) {
        return URI.create("http://127.0.0.1:" + port + "/" + path);
    }

    private static JsonNode json(HttpResponse<String> response) throws IOException {
        return JSON.readTree(response.body());
    }
}
