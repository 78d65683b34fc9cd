package dev.comfyctl.web;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.Daemon;
import dev.comfyctl.supervisor.InstanceState;
import dev.comfyctl.testing.ComfyUiVersions;
import dev.comfyctl.testing.Http;
import dev.comfyctl.testing.TestConfigs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** POST /manager/update on a real daemon: NDJSON steps, the drain of a running prompt, one update at a time. */
@Timeout(180)
class UpdateRoutesTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PROMPT = """
            {"client_id": "update", "prompt": {
              "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
              "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "drained"}}}}""";

    @TempDir
    Path temp;

    private ComfyUiVersions versions;
    private Config config;
    private Daemon daemon;
    private URI base;

    @BeforeEach
    void startDaemonAndComfyUiV1() throws Exception {
        versions = ComfyUiVersions.create(temp);
        Files.writeString(versions.dir().resolve("fake.json"), "{\"prompt_seconds\": 3}");
        config = TestConfigs.forComfyUi(versions.dir(), temp.resolve("state"),
                "COMFYUI_AUTOSTART", "false", "HEALTH_PORT", "0", "RESTART_DRAIN_MAX_SECONDS", "60");
        daemon = Daemon.start(config, false);
        base = URI.create("http://127.0.0.1:" + config.managerPort());
        daemon.instance().start(event -> { }).join();
    }

    @AfterEach
    void stopDaemon() {
        daemon.close();
    }

    private HttpRequest.Builder update(String query) {
        return HttpRequest.newBuilder(base.resolve("/manager/update" + query)).POST(HttpRequest.BodyPublishers.noBody());
    }

    @Test
    void anUpdateWaitsForTheRunningPromptStreamsItsStepsAndASecondOneMeanwhileIsRefused() throws Exception {
        URI comfy = URI.create("http://127.0.0.1:" + config.comfyPort());
        assertThat(Http.postJson(comfy.resolve("/prompt"), PROMPT).statusCode()).isEqualTo(200);

        HttpResponse<Stream<String>> stream = Http.CLIENT.send(update("?version=v4").header("Accept", "application/x-ndjson").build(),
                HttpResponse.BodyHandlers.ofLines());
        Iterator<JsonNode> lines = stream.body().map(UpdateRoutesTest::parse).iterator();
        JsonNode line = lines.next();
        while (!line.path("title").asText().equals("drain")) {
            line = lines.next();
        }
        HttpResponse<String> second = Http.send(update("?version=v3"));
        JsonNode drained = lines.next();
        JsonNode result = line;
        while (lines.hasNext()) {
            result = lines.next();
        }

        assertThat(second.statusCode()).isEqualTo(409);
        assertThat(second.body()).contains("an update is already under way");
        assertThat(drained.path("outcome").asText()).isEqualTo("DONE");
        assertThat(drained.path("message").asText()).contains("comfyui: waited");
        assertThat(result.path("type").asText()).isEqualTo("result");
        assertThat(result.path("ok").asBoolean()).as(result.toString()).isTrue();
        assertThat(result.path("summary").asText()).contains("from v1 to v4");
        assertThat(versions.head()).isEqualTo(versions.commit("v4"));
        assertThat(daemon.instance().state()).isEqualTo(InstanceState.READY);
    }

    @Test
    void withoutNdjsonAFailedUpdateIsOneJsonAnswerWithTheLogTail() throws Exception {
        // Not Http.send: a stop, a failed start and a start again may outlast its 10 s on a busy machine.
        HttpResponse<String> response = Http.CLIENT.send(update("?version=v2").timeout(Duration.ofSeconds(90)).build(),
                HttpResponse.BodyHandlers.ofString());

        JsonNode json = JSON.readTree(response.body());
        assertThat(response.statusCode()).isEqualTo(500);
        assertThat(json.path("ok").asBoolean()).isFalse();
        assertThat(json.path("error").asText()).contains("rolled back to v1");
        assertThat(json.path("logTail").toString()).contains(ComfyUiVersions.V2_FAILURE);
        assertThat(daemon.instance().state()).isEqualTo(InstanceState.READY);
    }

    @Test
    void aVersionAndRollbackTogetherAreABadRequest() {
        HttpResponse<String> response = Http.send(update("?version=v4&rollback=true"));

        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(response.body()).contains("either version or rollback");
        assertThat(versions.head()).isEqualTo(versions.commit("v1"));
    }

    private static JsonNode parse(String line) {
        try {
            return JSON.readTree(line);
        } catch (Exception e) {
            throw new AssertionError("not JSON: " + line, e);
        }
    }
}
