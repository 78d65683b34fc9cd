package dev.comfyctl.web;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonObject;

import java.net.URI;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** A server-sent events client for tests: records every event and comment until closed, which disconnects it. */
final class SseRecorder implements AutoCloseable {
    record Event(String name, JsonObject data) {
    }

    private final Vertx vertx = Vertx.vertx();
    private final List<Event> events = new CopyOnWriteArrayList<>();
    private final List<String> comments = new CopyOnWriteArrayList<>();
    private final StringBuilder unparsed = new StringBuilder();
    private HttpClientResponse response;

    private SseRecorder() {
    }

    /** Connects and waits (at most 10 s) for the response headers. */
    static SseRecorder connect(URI uri) throws Exception {
        SseRecorder recorder = new SseRecorder();
        HttpClient client = recorder.vertx.createHttpClient();
        recorder.response = client.request(HttpMethod.GET, uri.getPort(), uri.getHost(), uri.getRawPath())
                .compose(request -> request.putHeader("Accept", "text/event-stream").send())
                .onSuccess(response -> response.handler(buffer -> recorder.received(buffer.toString())))
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        return recorder;
    }

    HttpClientResponse response() {
        return response;
    }

    List<Event> events() {
        return events;
    }

    List<Event> named(String name) {
        return events.stream().filter(event -> event.name().equals(name)).toList();
    }

    List<String> comments() {
        return comments;
    }

    /** Whether any {@code status} event so far shows the first instance in {@code state}. */
    boolean sawState(String state) {
        return named("status").stream()
                .anyMatch(event -> state.equals(event.data().getJsonArray("instances").getJsonObject(0).getString("state")));
    }

    List<String> logLines() {
        return named("log").stream().flatMap(event -> event.data().getJsonArray("lines").stream().map(String::valueOf)).toList();
    }

    private void received(String text) {
        unparsed.append(text);
        int end;
        while ((end = unparsed.indexOf("\n\n")) >= 0) {
            String block = unparsed.substring(0, end);
            unparsed.delete(0, end + 2);
            parse(block);
        }
    }

    private void parse(String block) {
        String name = "message";
        StringBuilder data = new StringBuilder();
        for (String line : block.split("\n")) {
            if (line.startsWith(":")) {
                comments.add(line.substring(1).strip());
            } else if (line.startsWith("event: ")) {
                name = line.substring("event: ".length());
            } else if (line.startsWith("data: ")) {
                data.append(line.substring("data: ".length()));
            }
        }
        if (data.length() > 0) {
            events.add(new Event(name, new JsonObject(data.toString())));
        }
    }

    @Override
    public void close() {
        // Closing Vert.x alone would wait for the never-ending response to finish.
        await(response.request().connection().close());
        await(vertx.close());
    }

    private static void await(Future<?> future) {
        try {
            future.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("cannot close the events client: " + e, e);
        }
    }
}
