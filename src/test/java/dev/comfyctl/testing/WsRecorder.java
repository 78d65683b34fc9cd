package dev.comfyctl.testing;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * A WebSocket client that records every message it receives, for asserting on ComfyUI's message
 * stream with awaitility. Text messages are parsed as JSON; binary messages are kept as bytes.
 */
public final class WsRecorder implements WebSocket.Listener, AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final List<JsonNode> messages = new CopyOnWriteArrayList<>();
    private final List<byte[]> binaries = new CopyOnWriteArrayList<>();
    private final CompletableFuture<Integer> closed = new CompletableFuture<>();
    private final StringBuilder text = new StringBuilder();
    private final ByteArrayOutputStream binary = new ByteArrayOutputStream();
    private volatile WebSocket socket;

    private WsRecorder() {
    }

    /** Opens {@code uri} (ws://...) and starts recording; fails after 10 s without a handshake. */
    public static WsRecorder connect(HttpClient client, URI uri) {
        return connect(client, uri, Map.of());
    }

    /** Like {@link #connect(HttpClient, URI)} with extra headers on the handshake, such as a Cookie. */
    public static WsRecorder connect(HttpClient client, URI uri, Map<String, String> headers) {
        WsRecorder recorder = new WsRecorder();
        try {
            WebSocket.Builder builder = client.newWebSocketBuilder();
            headers.forEach(builder::header);
            recorder.socket = builder.buildAsync(uri, recorder).get(10, TimeUnit.SECONDS);
            return recorder;
        } catch (Exception e) {
            throw new IllegalStateException("WebSocket handshake with " + uri + " failed", e);
        }
    }

    /** Text messages received so far, oldest first. */
    public List<JsonNode> messages() {
        return List.copyOf(messages);
    }

    /** The {@code type} of each text message received so far, oldest first. */
    public List<String> types() {
        return messages.stream().map(m -> m.path("type").asText()).toList();
    }

    /** Binary messages received so far, oldest first. */
    public List<byte[]> binaries() {
        return List.copyOf(binaries);
    }

    /** Completes with the close status code when the server closes the socket. */
    public CompletableFuture<Integer> closed() {
        return closed;
    }

    public WebSocket socket() {
        return socket;
    }

    @Override
    public void onOpen(WebSocket webSocket) {
        webSocket.request(1);
    }

    @Override
    public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
        text.append(data);
        if (last) {
            try {
                messages.add(JSON.readTree(text.toString()));
            } catch (JsonProcessingException e) {
                closed.completeExceptionally(new IllegalStateException("not JSON: " + text, e));
            }
            text.setLength(0);
        }
        webSocket.request(1);
        return null;
    }

    @Override
    public CompletionStage<?> onBinary(WebSocket webSocket, ByteBuffer data, boolean last) {
        byte[] bytes = new byte[data.remaining()];
        data.get(bytes);
        binary.writeBytes(bytes);
        if (last) {
            binaries.add(binary.toByteArray());
            binary.reset();
        }
        webSocket.request(1);
        return null;
    }

    @Override
    public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
        closed.complete(statusCode);
        return null;
    }

    @Override
    public void onError(WebSocket webSocket, Throwable error) {
        closed.completeExceptionally(error);
    }

    /** Starts the close handshake with status 1000 and drops the connection. */
    @Override
    public void close() {
        WebSocket current = socket;
        if (current != null && !current.isOutputClosed()) {
            current.sendClose(WebSocket.NORMAL_CLOSURE, "").orTimeout(5, TimeUnit.SECONDS).exceptionally(e -> null).join();
        }
        if (current != null) {
            current.abort();
        }
    }
}
