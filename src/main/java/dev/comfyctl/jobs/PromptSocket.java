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
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * ComfyUI's WebSocket ({@code /ws?clientId=}) of one instance, shared by the jobs running there: every prompt is
 * submitted under its {@link #clientId()}, and each job reads the messages of its own prompt ({@link #follow}).
 * One socket per instance rather than one per job, because a connection and ComfyUI's greeting per job cost more
 * than the rest of a quick prompt's dispatch. Messages of a prompt that arrive before its job follows it (ComfyUI
 * may start a prompt before its {@code POST /prompt} answer is read) are kept for it. When the socket drops
 * (ComfyUI crashed, restarted or went away) every prompt followed on it ends with that error, and the next job
 * opens another socket. Binary frames (previews) are skipped.
 */
final class PromptSocket implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Put in a prompt's queue when the socket ends. */
    private static final JsonNode CLOSED = JSON.createObjectNode().put("type", "comfyctl_socket_closed");
    /** Prompts whose messages came before anyone followed them, kept at most: a prompt whose answer never came is not followed. */
    private static final int UNFOLLOWED_KEPT = 256;

    private final String clientId;
    private final CompletableFuture<Void> greeted = new CompletableFuture<>();
    /** Guarded by this, as are {@link #unfollowed} and {@link #closeReason}. */
    private final Map<String, BlockingQueue<JsonNode>> followed = new HashMap<>();
    private final Map<String, List<JsonNode>> unfollowed = new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, List<JsonNode>> eldest) {
            return size() > UNFOLLOWED_KEPT;
        }
    };
    private String closeReason;
    private final WebSocket socket;

    private PromptSocket(HttpClient http, URI uri, String clientId, Duration timeout) throws ComfyUnreachableException {
        this.clientId = clientId;
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
     * Connects as {@code clientId} and waits for ComfyUI's greeting ({@code status} with our {@code sid}): ComfyUI
     * registers a socket after the handshake, and messages of a prompt submitted before that go nowhere.
     */
    static PromptSocket open(HttpClient http, URI comfyBase, String clientId, Duration timeout) throws ComfyUnreachableException {
        String base = comfyBase.toString().replaceFirst("^http", "ws");
        PromptSocket socket = new PromptSocket(http, URI.create((base.endsWith("/") ? base : base + "/") + "ws?clientId="
                + URLEncoder.encode(clientId, StandardCharsets.UTF_8)), clientId, timeout);
        try {
            socket.greeted.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return socket;
        } catch (TimeoutException e) {
            socket.close();
            throw new ComfyUnreachableException("ComfyUI's WebSocket sent no status greeting within " + timeout, null);
        } catch (ExecutionException e) {
            socket.close();
            throw new ComfyUnreachableException(e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            socket.close();
            Thread.currentThread().interrupt();
            throw new ComfyUnreachableException("interrupted while waiting for ComfyUI's WebSocket greeting", e);
        }
    }

    /** The id prompts are submitted with ({@code client_id}), so that ComfyUI sends their messages here. */
    String clientId() {
        return clientId;
    }

    synchronized boolean isOpen() {
        return closeReason == null;
    }

    /**
     * The messages of one prompt submitted under {@link #clientId()}, those that came already included.
     *
     * @throws ComfyUnreachableException when the socket has closed: messages of the prompt may have been lost
     */
    synchronized Prompt follow(String promptId) throws ComfyUnreachableException {
        if (closeReason != null) {
            throw closed();
        }
        BlockingQueue<JsonNode> messages = new LinkedBlockingQueue<>(unfollowed.getOrDefault(promptId, List.of()));
        unfollowed.remove(promptId);
        followed.put(promptId, messages);
        return new Prompt(promptId, messages);
    }

    @Override
    public void close() {
        socket.abort();
        ended(" (closed by comfyctl)");
    }

    private synchronized void dispatch(JsonNode message) {
        String promptId = message.path("data").path("prompt_id").asText("");
        if (promptId.isEmpty()) {
            return;
        }
        BlockingQueue<JsonNode> messages = followed.get(promptId);
        if (messages != null) {
            messages.add(message);
        } else {
            unfollowed.computeIfAbsent(promptId, id -> new ArrayList<>()).add(message);
        }
    }

    private synchronized void ended(String reason) {
        if (closeReason != null) {
            return;
        }
        closeReason = reason;
        followed.values().forEach(messages -> messages.add(CLOSED));
        greeted.completeExceptionally(closed());
    }

    private ComfyUnreachableException closed() {
        return new ComfyUnreachableException("ComfyUI's WebSocket closed mid-job" + closeReason, null);
    }

    /** One prompt's messages, in order; closing stops following it. */
    final class Prompt implements AutoCloseable {
        private final String promptId;
        private final BlockingQueue<JsonNode> messages;

        private Prompt(String promptId, BlockingQueue<JsonNode> messages) {
            this.promptId = promptId;
            this.messages = messages;
        }

        /**
         * The next message, waiting up to {@code wait}; empty when none came in time.
         *
         * @throws ComfyUnreachableException when the socket has closed
         */
        Optional<JsonNode> next(Duration wait) throws ComfyUnreachableException, InterruptedException {
            JsonNode message = wait.isZero() ? messages.poll() : messages.poll(wait.toMillis(), TimeUnit.MILLISECONDS);
            if (message == CLOSED) {
                messages.add(CLOSED);
                synchronized (PromptSocket.this) {
                    throw closed();
                }
            }
            return Optional.ofNullable(message);
        }

        @Override
        public void close() {
            synchronized (PromptSocket.this) {
                followed.remove(promptId);
            }
        }
    }

    private final class Listener implements WebSocket.Listener {
        private final StringBuilder text = new StringBuilder();

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            text.append(data);
            if (last) {
                try {
                    JsonNode message = JSON.readTree(text.toString());
                    if (message.path("type").asText().equals("status") && clientId.equals(message.path("data").path("sid").asText())) {
                        greeted.complete(null);
                    } else {
                        dispatch(message);
                    }
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
            ended(" (status " + statusCode + (reason.isEmpty() ? "" : ", " + reason) + ")");
            return null;
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            ended(" (" + error + ")");
        }
    }
}
