package dev.comfyctl.jobs;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * ComfyUI's WebSocket ({@code /ws?clientId=}) for one job: its JSON messages in order, and whether it dropped.
 * Opened before the prompt is submitted, so that no message of the prompt can be missed. Binary frames
 * (previews) are skipped.
 */
final class PromptSocket implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Put in the queue when the socket ends: ComfyUI crashed, restarted or went away. */
    private static final JsonNode CLOSED = JSON.createObjectNode().put("type", "comfyctl_socket_closed");

    private final BlockingQueue<JsonNode> messages = new LinkedBlockingQueue<>();
    private final WebSocket socket;
    private volatile String closeReason = "";

    private PromptSocket(HttpClient http, URI uri, Duration timeout) throws ComfyUnreachableException {
        try {
            socket = http.newWebSocketBuilder().connectTimeout(timeout).buildAsync(uri, new Listener())
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            throw new ComfyUnreachableException("cannot open ComfyUI's WebSocket " + uri + ": "
                    + (e.getCause() != null ? e.getCause() : e), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ComfyUnreachableException("interrupted while opening " + uri, e);
        }
    }

    /**
     * Connects as {@code clientId}, the id the prompt is then submitted with, and waits for ComfyUI's greeting
     * ({@code status} with our {@code sid}): ComfyUI registers a socket after the handshake, and messages of a prompt
     * submitted before that go nowhere.
     */
    static PromptSocket open(HttpClient http, URI comfyBase, String clientId, Duration timeout) throws ComfyUnreachableException {
        String base = comfyBase.toString().replaceFirst("^http", "ws");
        PromptSocket socket = new PromptSocket(http, URI.create((base.endsWith("/") ? base : base + "/") + "ws?clientId="
                + URLEncoder.encode(clientId, StandardCharsets.UTF_8)), timeout);
        try {
            socket.awaitGreeting(clientId, timeout);
            return socket;
        } catch (ComfyUnreachableException e) {
            socket.close();
            throw e;
        } catch (InterruptedException e) {
            socket.close();
            Thread.currentThread().interrupt();
            throw new ComfyUnreachableException("interrupted while waiting for ComfyUI's WebSocket greeting", e);
        }
    }

    private void awaitGreeting(String clientId, Duration timeout) throws ComfyUnreachableException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            Optional<JsonNode> message = next(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
            if (message.isPresent() && message.get().path("type").asText().equals("status")
                    && clientId.equals(message.get().path("data").path("sid").asText())) {
                return;
            }
        }
        throw new ComfyUnreachableException("ComfyUI's WebSocket sent no status greeting within " + timeout, null);
    }

    /**
     * The next message, waiting up to {@code wait}; empty when none came in time.
     *
     * @throws ComfyUnreachableException when the socket has closed
     */
    Optional<JsonNode> next(Duration wait) throws ComfyUnreachableException, InterruptedException {
        JsonNode message = messages.poll(wait.toMillis(), TimeUnit.MILLISECONDS);
        if (message == CLOSED) {
            messages.add(CLOSED);
            throw new ComfyUnreachableException("ComfyUI's WebSocket closed mid-job" + closeReason, null);
        }
        return Optional.ofNullable(message);
    }

    @Override
    public void close() {
        socket.abort();
    }

    private final class Listener implements WebSocket.Listener {
        private final StringBuilder text = new StringBuilder();

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            text.append(data);
            if (last) {
                try {
                    messages.add(JSON.readTree(text.toString()));
                } catch (JsonProcessingException e) {
                    // ComfyUI only sends JSON text; anything else is not a message a job can use.
                }
                text.setLength(0);
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onBinary(WebSocket webSocket, ByteBuffer data, boolean last) {
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
            closeReason = " (status " + statusCode + (reason.isEmpty() ? "" : ", " + reason) + ")";
            messages.add(CLOSED);
            return null;
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            closeReason = " (" + error + ")";
            messages.add(CLOSED);
        }
    }
}
