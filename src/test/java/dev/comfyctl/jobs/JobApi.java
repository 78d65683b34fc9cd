package dev.comfyctl.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.testing.Http;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

import static org.awaitility.Awaitility.await;

/** The daemon's /jobs API as a test drives it: plain HTTP, JSON answers. */
final class JobApi {
    static final ObjectMapper JSON = new ObjectMapper();
    /** A workflow that needs no model: a 64x64 image, saved. */
    static final String WORKFLOW = """
            {"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": %d}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "%s"}}}""";

    record Answer(int status, JsonNode body) {
    }

    private final URI base;

    JobApi(URI base) {
        this.base = base;
    }

    static String workflow(int color, String prefix) {
        return WORKFLOW.formatted(color, prefix);
    }

    /** POST /jobs with {"prompt": workflow}; the new job's id. */
    String submit(String workflow) {
        Answer answer = post("{\"prompt\": " + workflow + "}");
        if (answer.status() != 202) {
            throw new AssertionError("POST /jobs answered " + answer.status() + ": " + answer.body());
        }
        return answer.body().path("id").asText();
    }

    Answer post(String body) {
        return answer(Http.postJson(base.resolve("/jobs"), body));
    }

    JsonNode job(String id) {
        return get("/jobs/" + id).body();
    }

    Answer get(String path) {
        return answer(Http.get(base.resolve(path)));
    }

    Answer delete(String id) {
        return answer(Http.send(HttpRequest.newBuilder(base.resolve("/jobs/" + id)).DELETE()));
    }

    byte[] bytes(String path) {
        try {
            return Http.CLIENT.send(HttpRequest.newBuilder(base.resolve(path)).build(), HttpResponse.BodyHandlers.ofByteArray()).body();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Waits (generously) until the job is in {@code state}; the job then. */
    JsonNode awaitState(String id, String state, Duration atMost) {
        await().atMost(atMost).pollInterval(Duration.ofMillis(100))
                .until(() -> job(id).path("state").asText(), state::equals);
        return job(id);
    }

    static JsonNode answerOf(HttpResponse<String> response) {
        return answer(response).body();
    }

    private static Answer answer(HttpResponse<String> response) {
        try {
            return new Answer(response.statusCode(), response.body().isEmpty() ? JSON.createObjectNode() : JSON.readTree(response.body()));
        } catch (IOException e) {
            throw new AssertionError("not JSON (" + response.statusCode() + "): " + response.body(), e);
        }
    }
}
