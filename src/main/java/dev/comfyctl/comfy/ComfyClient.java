package dev.comfyctl.comfy;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Objects;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLContextSpi;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocketFactory;
import javax.net.ssl.SSLSessionContext;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManager;

/**
 * A typed client for one ComfyUI's HTTP API. Immutable and thread-safe; every call is blocking and
 * bounded by the request timeout. Calls that fail throw {@link ComfyApiException} (unchecked) naming
 * the URL and the status, except {@link #isReady()} and {@link #health()}, which never throw.
 *
 * <p>Holds no resources of its own: the {@link HttpClient} is shared (by default one per JVM), so
 * there is nothing to close.
 */
public final class ComfyClient {

    private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(2);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final URI baseUri;
    private final Duration requestTimeout;
    private final HttpClient http;

    private ComfyClient(URI baseUri, Duration requestTimeout, HttpClient http) {
        Objects.requireNonNull(baseUri, "baseUri");
        Objects.requireNonNull(requestTimeout, "requestTimeout");
        Objects.requireNonNull(http, "httpClient");
        if (!baseUri.isAbsolute() || !("http".equals(baseUri.getScheme()) || "https".equals(baseUri.getScheme()))) {
            throw new IllegalArgumentException("baseUri is not an absolute http(s) URI: " + baseUri);
        }
        if (requestTimeout.isNegative() || requestTimeout.isZero()) {
            throw new IllegalArgumentException("requestTimeout <= 0: " + requestTimeout);
        }
        // Resolving "system_stats" against ".../comfy" would drop "comfy": keep a trailing slash.
        this.baseUri = baseUri.getPath().endsWith("/") ? baseUri : URI.create(baseUri + "/");
        this.requestTimeout = requestTimeout;
        this.http = http;
    }

    /**
     * A client for the ComfyUI at {@code baseUri} (e.g. {@code http://127.0.0.1:8188/}; a path prefix
     * is kept) sharing one JVM-wide HTTP/1.1 client.
     *
     * @throws IllegalArgumentException when baseUri is not absolute http(s) or the timeout is not positive
     */
    public static ComfyClient create(URI baseUri, Duration requestTimeout) {
        return new ComfyClient(baseUri, requestTimeout, SharedHttp.CLIENT);
    }

    /** Like {@link #create(URI, Duration)} with the caller's HttpClient (its connect timeout applies). */
    public static ComfyClient create(URI baseUri, Duration requestTimeout, HttpClient httpClient) {
        return new ComfyClient(baseUri, requestTimeout, httpClient);
    }

    public URI baseUri() {
        return baseUri;
    }

    public Duration requestTimeout() {
        return requestTimeout;
    }

    /**
     * {@code GET /system_stats}: versions, argv and devices.
     *
     * @throws ComfyApiException when there is no 200 answer with JSON
     */
    public SystemStats systemStats() {
        return SystemStats.fromJson(getJson("system_stats"));
    }

    /**
     * {@code GET /queue}: running and pending prompt ids.
     *
     * @throws ComfyApiException when there is no 200 answer with JSON
     */
    public QueueStatus queue() {
        return QueueStatus.fromJson(getJson("queue"));
    }

    /**
     * Whether {@code GET /system_stats} answers 200 within the request timeout or 2 s, whichever is
     * shorter: the readiness test ComfyUI's own tools use. Never throws.
     */
    public boolean isReady() {
        return health().ok();
    }

    /** One readiness probe like {@link #isReady()}, with its latency and, when down, the reason. Never throws. */
    public Health health() {
        HttpRequest request = request("system_stats", probeTimeout()).GET().build();
        long start = System.nanoTime();
        try {
            int status = http.send(request, HttpResponse.BodyHandlers.discarding()).statusCode();
            Duration latency = Duration.ofNanos(System.nanoTime() - start);
            return status == 200 ? Health.up(latency) : Health.down(latency, "GET " + request.uri() + " answered " + status);
        } catch (IOException e) {
            return Health.down(Duration.ofNanos(System.nanoTime() - start),
                    "GET " + request.uri() + " " + describe(e, probeTimeout()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Health.down(Duration.ofNanos(System.nanoTime() - start), "interrupted");
        }
    }

    /**
     * {@code POST /free}: asks ComfyUI to unload models and/or free cached memory. ComfyUI acts on it
     * between prompts, not during one.
     *
     * @throws ComfyApiException when ComfyUI does not answer 200
     */
    public void free(boolean unloadModels, boolean freeMemory) {
        ObjectNode body = JSON.createObjectNode().put("unload_models", unloadModels).put("free_memory", freeMemory);
        expect200(post("free", body));
    }

    /**
     * {@code POST /prompt}: validates and queues a prompt (API format: node id to {@code {class_type, inputs}}).
     * ComfyUI answers after validation, before the prompt runs.
     *
     * @param clientId the WebSocket client id that should receive the prompt's messages; null for none
     * @throws PromptRejectedException when ComfyUI refuses the prompt at validation (400 with node errors)
     * @throws ComfyApiException on any other failure
     */
    public PromptResult submit(JsonNode prompt, String clientId) {
        Objects.requireNonNull(prompt, "prompt");
        ObjectNode body = JSON.createObjectNode();
        body.set("prompt", prompt);
        if (clientId != null) {
            body.put("client_id", clientId);
        }
        Exchange exchange = post("prompt", body);
        if (exchange.response.statusCode() == 400) {
            JsonNode answer = parseOrNull(exchange.response.body());
            if (answer != null && answer.path("error").isObject()) {
                throw new PromptRejectedException(exchange.request.uri(), answer.get("error"),
                        answer.path("node_errors").isObject() ? answer.get("node_errors") : JSON.createObjectNode());
            }
        }
        JsonNode answer = json(exchange);
        return new PromptResult(answer.path("prompt_id").asText(), answer.path("number").asLong(),
                answer.path("node_errors").isObject() ? answer.get("node_errors") : JSON.createObjectNode());
    }

    /**
     * {@code GET /history/{promptId}}: the prompt's history entry ({@code prompt}, {@code outputs},
     * {@code status}), or an empty object while it is queued or running, or when ComfyUI does not know it
     * (its history is in memory and lost on restart).
     *
     * @throws ComfyApiException when there is no 200 answer with JSON
     */
    public JsonNode history(String promptId) {
        Objects.requireNonNull(promptId, "promptId");
        String encoded = URLEncoder.encode(promptId, StandardCharsets.UTF_8).replace("+", "%20");
        JsonNode entry = getJson("history/" + encoded).path(promptId);
        return entry.isObject() ? entry : JSON.createObjectNode();
    }

    /**
     * {@code POST /interrupt}: stops the prompt that is running now, if any; pending prompts stay queued.
     *
     * @throws ComfyApiException when ComfyUI does not answer 200
     */
    public void interrupt() {
        expect200(post("interrupt", JSON.createObjectNode()));
    }

    private JsonNode getJson(String path) {
        HttpRequest request = request(path, requestTimeout).GET().build();
        return json(new Exchange(request, send(request)));
    }

    private Exchange post(String path, JsonNode body) {
        HttpRequest request = request(path, requestTimeout)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.toString()))
                .build();
        return new Exchange(request, send(request));
    }

    private HttpRequest.Builder request(String path, Duration timeout) {
        return HttpRequest.newBuilder(baseUri.resolve(path)).timeout(timeout);
    }

    private HttpResponse<String> send(HttpRequest request) {
        try {
            return http.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw ComfyApiException.transport(request.method(), request.uri(), describe(e, requestTimeout), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw ComfyApiException.transport(request.method(), request.uri(), "interrupted", e);
        }
    }

    private static void expect200(Exchange exchange) {
        int status = exchange.response.statusCode();
        if (status != 200) {
            throw ComfyApiException.status(exchange.request.method(), exchange.request.uri(), status, exchange.response.body());
        }
    }

    private static JsonNode json(Exchange exchange) {
        expect200(exchange);
        JsonNode parsed = parseOrNull(exchange.response.body());
        if (parsed == null) {
            throw ComfyApiException.transport(exchange.request.method(), exchange.request.uri(),
                    "answered 200 with a body that is not JSON", null);
        }
        return parsed;
    }

    private static JsonNode parseOrNull(String body) {
        try {
            return JSON.readTree(body);
        } catch (JsonProcessingException e) {
            return null;
        }
    }

    private Duration probeTimeout() {
        return requestTimeout.compareTo(PROBE_TIMEOUT) < 0 ? requestTimeout : PROBE_TIMEOUT;
    }

    /** What went wrong, to follow "METHOD URL": "failed: connection refused", "timed out after PT2S". */
    private static String describe(IOException e, Duration timeout) {
        if (e instanceof HttpConnectTimeoutException) {
            return "failed: connect timed out";
        }
        if (e instanceof HttpTimeoutException) {
            return "timed out after " + timeout;
        }
        if (e instanceof ConnectException) {
            return "failed: connection refused";
        }
        return "failed: " + (e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName());
    }

    private record Exchange(HttpRequest request, HttpResponse<String> response) {
    }

    /** The client ComfyUI is spoken to with, for what this class does not do itself (files, WebSockets): no TLS. */
    public static HttpClient sharedHttp() {
        return SharedHttp.CLIENT;
    }

    /** Created on first use, so a JVM that never talks to ComfyUI starts no HttpClient threads. */
    private static final class SharedHttp {
        static final HttpClient CLIENT = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5))
                // Responses are finished on the client's selector thread rather than handed to a pool thread: a hop
                // fewer per request and per WebSocket message, 0.2 ms of CPU a job on the job queue's benchmark. Safe
                // because nothing given to this client blocks: the calls here wait in their own thread, and the one
                // WebSocket listener (jobs.PromptSocket) only parses and queues.
                .executor(Runnable::run)
                .sslContext(new SSLContext(new NoTls(), null, "none") { })
                .sslParameters(new SSLParameters())
                .build();
    }

    /**
     * ComfyUI is spoken to in plain HTTP on loopback. Without a TLS context of its own, the client loads the default
     * one and parses the whole CA store; even an empty JSSE context loads 400 classes of it, a few megabytes the
     * daemon never uses. This one loads nothing and refuses TLS.
     */
    private static final class NoTls extends SSLContextSpi {
        private static UnsupportedOperationException refused() {
            return new UnsupportedOperationException("comfyctl talks to ComfyUI in plain HTTP, without TLS");
        }

        @Override
        protected void engineInit(KeyManager[] keys, TrustManager[] trust, SecureRandom random) {
            throw refused();
        }

        @Override
        protected SSLSocketFactory engineGetSocketFactory() {
            throw refused();
        }

        @Override
        protected SSLServerSocketFactory engineGetServerSocketFactory() {
            throw refused();
        }

        @Override
        protected SSLEngine engineCreateSSLEngine() {
            throw refused();
        }

        @Override
        protected SSLEngine engineCreateSSLEngine(String host, int port) {
            throw refused();
        }

        @Override
        protected SSLSessionContext engineGetServerSessionContext() {
            throw refused();
        }

        @Override
        protected SSLSessionContext engineGetClientSessionContext() {
            throw refused();
        }
    }
}
