package dev.comfyctl.proxy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.FakeProcess;
import dev.comfyctl.testing.Http;
import dev.comfyctl.testing.Ports;
import dev.comfyctl.testing.WsRecorder;
import dev.comfyctl.testing.Zeros;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.SocketAddress;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The proxy in front of a real fake ComfyUI process, on real sockets. */
@Timeout(60)
class ReverseProxyTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path temp;

    private static FakeProcess comfy;
    private static Vertx vertx;
    private static HttpServer server;
    private static ReverseProxy proxy;
    private static URI base;

    @BeforeAll
    static void startFakeAndProxy() throws Exception {
        FakeComfyUi fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        fake.behave(java.util.Map.of("prompt_seconds", 0.3));
        comfy = fake.launch(Ports.free(), "--cpu");
        vertx = Vertx.vertx();
        proxy = new ReverseProxy(vertx, SocketAddress.inetSocketAddress(comfy.port(), "127.0.0.1"),
                Duration.ofSeconds(30), ProxyPolicy.ALWAYS_OPEN, ProxyMetrics.NONE);
        server = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0)
                        .setHandle100ContinueAutomatically(true))
                .connectionHandler(proxy.connectionHandler()).requestHandler(proxy).listen().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        base = URI.create("http://127.0.0.1:" + server.actualPort());
    }

    @AfterAll
    static void stop() throws Exception {
        proxy.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        comfy.close();
    }

    private static JsonNode echo(HttpRequest.Builder request) throws Exception {
        HttpResponse<String> response = Http.send(request);
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return JSON.readTree(response.body());
    }

    @Test
    void theClientsHostIsKeptAndForwardedHeadersAreAdded() throws Exception {
        JsonNode echoed = echo(HttpRequest.newBuilder(base.resolve("/fake/echo?a=1&b=two")).header("Cookie", "session=abc"));

        assertThat(echoed.path("headers").path("host").asText()).isEqualTo("127.0.0.1:" + server.actualPort());
        assertThat(echoed.path("headers").path("x-forwarded-for").asText()).isEqualTo("127.0.0.1");
        assertThat(echoed.path("headers").path("x-forwarded-proto").asText()).isEqualTo("http");
        assertThat(echoed.path("headers").path("x-forwarded-host").asText()).isEqualTo("127.0.0.1:" + server.actualPort());
        assertThat(echoed.path("headers").path("cookie").asText()).isEqualTo("session=abc");
        assertThat(echoed.path("query").asText()).isEqualTo("a=1&b=two");
    }

    @Test
    void hopByHopHeadersAndThoseNamedInConnectionAreNotForwarded() throws Exception {
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", server.actualPort())) {
            socket.getOutputStream().write(("GET /fake/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive, X-Secret\r\n"
                    + "X-Secret: s3cret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nX-Kept: yes\r\n\r\n").getBytes());
            socket.getOutputStream().flush();
            JsonNode headers = JSON.readTree(bodyOf(socket.getInputStream())).path("headers");

            assertThat(headers.has("x-kept")).isTrue();
            assertThat(headers.has("x-secret")).isFalse();
            assertThat(headers.has("keep-alive")).isFalse();
            assertThat(headers.has("te")).isFalse();
        }
    }

    /** The body of one HTTP/1.1 response with a Content-Length, read off a raw socket. */
    private static String bodyOf(java.io.InputStream in) throws java.io.IOException {
        java.io.DataInputStream data = new java.io.DataInputStream(in);
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            head.append((char) data.readUnsignedByte());
        }
        java.util.regex.Matcher length = java.util.regex.Pattern.compile("(?i)content-length: *(\\d+)").matcher(head);
        assertThat(length.find()).as(head.toString()).isTrue();
        return new String(data.readNBytes(Integer.parseInt(length.group(1))), java.nio.charset.StandardCharsets.UTF_8);
    }

    @Test
    void everyMethodIsCarriedPatchIncluded() throws Exception {
        JsonNode echoed = echo(HttpRequest.newBuilder(base.resolve("/fake/echo/internal"))
                .method("PATCH", HttpRequest.BodyPublishers.ofString("{\"x\":1}")));

        assertThat(echoed.path("method").asText()).isEqualTo("PATCH");
        assertThat(echoed.path("body_length").asInt()).isEqualTo(7);
    }

    @Test
    void aBrowserRequestWhoseOriginMatchesItsHostIsNotRefusedByComfyUi() {
        HttpResponse<String> response = Http.send(HttpRequest.newBuilder(base.resolve("/system_stats"))
                .header("Origin", base.toString()));

        assertThat(response.statusCode()).isEqualTo(200);
    }

    @Test
    void comfyUiManagerRoutesReachComfyUi() {
        assertThat(Http.get(base.resolve("/api/manager/queue/status")).statusCode()).isEqualTo(200);
        assertThat(Http.get(base.resolve("/manager/queue/status")).statusCode()).isEqualTo(200);
    }

    @Test
    void aPromptRunsThroughTheProxyWithItsWebSocketMessagesBothWays() throws Exception {
        try (WsRecorder ws = WsRecorder.connect(Http.CLIENT, Http.ws(base.resolve("/ws?clientId=proxy-test")))) {
            await().until(() -> ws.types().contains("status"));
            HttpResponse<String> submitted = Http.postJson(base.resolve("/prompt"), """
                    {"client_id": "proxy-test", "prompt": {
                      "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
                      "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "proxied"}}}}""");
            assertThat(submitted.statusCode()).as(submitted.body()).isEqualTo(200);

            await().atMost(Duration.ofSeconds(20)).until(() -> ws.types().contains("execution_success"));
            ws.socket().sendText("{\"type\":\"feature_flags\",\"data\":{}}", true).get(5, TimeUnit.SECONDS);
            ws.socket().sendClose(java.net.http.WebSocket.NORMAL_CLOSURE, "bye").get(5, TimeUnit.SECONDS);
            assertThat(ws.closed().get(10, TimeUnit.SECONDS)).isEqualTo(java.net.http.WebSocket.NORMAL_CLOSURE);
        }
    }

    @Test
    void aWebSocketTunnelThatClosesNormallyLogsNoError() throws Exception {
        ListAppender<ILoggingEvent> logged = new ListAppender<>();
        logged.start();
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        root.addAppender(logged);
        try (WsRecorder ws = WsRecorder.connect(Http.CLIENT, Http.ws(base.resolve("/ws?clientId=closing")))) {
            await().until(() -> ws.types().contains("status"));
            ws.socket().sendClose(java.net.http.WebSocket.NORMAL_CLOSURE, "bye").get(5, TimeUnit.SECONDS);
            assertThat(ws.closed().get(10, TimeUnit.SECONDS)).isEqualTo(java.net.http.WebSocket.NORMAL_CLOSURE);

            // The proxy learns of the close a moment after the client does: give it that moment to log wrongly.
            await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(5)).until(() -> logged.list.stream()
                    .noneMatch(event -> event.getLevel().isGreaterOrEqual(Level.ERROR)));
        } finally {
            root.detachAppender(logged);
        }
    }

    @Test
    void largeDownloadsAndUploadsStreamThrough() throws Exception {
        long size = 64L * 1024 * 1024;
        HttpResponse<java.io.InputStream> download = Http.CLIENT.send(HttpRequest.newBuilder(
                base.resolve("/fake/bytes?n=" + size)).build(), HttpResponse.BodyHandlers.ofInputStream());
        long received;
        try (java.io.InputStream body = download.body()) {
            received = body.transferTo(java.io.OutputStream.nullOutputStream());
        }
        assertThat(received).isEqualTo(size);

        HttpResponse<String> upload = Http.CLIENT.send(HttpRequest.newBuilder(base.resolve("/fake/sink"))
                .expectContinue(true)
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new Zeros(size))).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(upload.statusCode()).isEqualTo(200);
        assertThat(JSON.readTree(upload.body()).path("bytes").asLong()).isEqualTo(size);
    }

    @Test
    void aBackendThatIsDownIsA502WithTheReason() throws Exception {
        ReverseProxy nowhere = new ReverseProxy(vertx, SocketAddress.inetSocketAddress(Ports.free(), "127.0.0.1"),
                Duration.ofSeconds(5), ProxyPolicy.ALWAYS_OPEN, ProxyMetrics.NONE);
        HttpServer other = vertx.createHttpServer().requestHandler(nowhere).listen(0, "127.0.0.1")
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        try {
            HttpResponse<String> response = Http.get(URI.create("http://127.0.0.1:" + other.actualPort() + "/prompt"));

            assertThat(response.statusCode()).isEqualTo(502);
            assertThat(JSON.readTree(response.body()).path("error").asText()).contains("did not answer", "not retried");
        } finally {
            other.close();
            nowhere.close();
        }
    }

    @Test
    void aBackendThatGoesSilentIsCutAfterTheTimeoutWithA502() throws Exception {
        // The kernel accepts connections on a listening socket nobody reads from: the request is sent, and no byte comes back.
        try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            ReverseProxy patient = new ReverseProxy(vertx, SocketAddress.inetSocketAddress(silent.getLocalPort(), "127.0.0.1"),
                    Duration.ofSeconds(1), ProxyPolicy.ALWAYS_OPEN, ProxyMetrics.NONE);
            HttpServer other = vertx.createHttpServer().requestHandler(patient).listen(0, "127.0.0.1")
                    .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            try {
                HttpResponse<String> response = Http.get(URI.create("http://127.0.0.1:" + other.actualPort() + "/history"));

                assertThat(response.statusCode()).isEqualTo(502);
                assertThat(JSON.readTree(response.body()).path("error").asText()).contains("did not answer GET /history");
            } finally {
                other.close();
                patient.close();
            }
        }
    }

    @Test
    void aRejectionFromThePolicyIsAnsweredAsIs() throws Exception {
        ProxyPolicy closed = new ProxyPolicy() {
            @Override
            public io.vertx.core.Future<Void> admit(io.vertx.core.http.HttpServerRequest request) {
                return io.vertx.core.Future.failedFuture(new RejectedException(new Rejection(503,
                        MultiMap.caseInsensitiveMultiMap().add("Retry-After", "5"), "application/json", "{\"state\":\"STARTING\"}")));
            }

            @Override
            public void webSocketTraffic() {
            }
        };
        ReverseProxy gated = new ReverseProxy(vertx, SocketAddress.inetSocketAddress(comfy.port(), "127.0.0.1"),
                Duration.ofSeconds(5), closed, ProxyMetrics.NONE);
        HttpServer other = vertx.createHttpServer().requestHandler(gated).listen(0, "127.0.0.1")
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        try {
            HttpResponse<String> response = Http.get(URI.create("http://127.0.0.1:" + other.actualPort() + "/prompt"));

            assertThat(response.statusCode()).isEqualTo(503);
            assertThat(response.headers().firstValue("Retry-After")).contains("5");
            assertThat(response.body()).isEqualTo("{\"state\":\"STARTING\"}");
        } finally {
            other.close();
            gated.close();
        }
    }
}
