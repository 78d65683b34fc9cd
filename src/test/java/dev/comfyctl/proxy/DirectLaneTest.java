package dev.comfyctl.proxy;

import dev.comfyctl.testing.Http;
import dev.comfyctl.testing.Ports;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.SocketAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Plain requests (no body, no upgrade) for paths the server hands the proxy unchecked go to a ready backend straight
 * from the client's connection, past Vert.x ({@link DirectLane}), and come back exactly as the Vert.x way would bring
 * them; every other request still goes through Vert.x, and on one connection the answers keep the requests' order.
 */
@Timeout(60)
class DirectLaneTest {
    private static final int MIB = 1024 * 1024;

    private final Vertx vertx = Vertx.vertx();
    /** Requests the front server's Vert.x handler saw: those the lane did not take. */
    private final AtomicInteger seenByVertx = new AtomicInteger();
    private final List<String> completed = new CopyOnWriteArrayList<>();
    private final AtomicLong bigWritten = new AtomicLong();
    private final CompletableFuture<Void> bodyMayGo = new CompletableFuture<>();
    private ReverseProxy proxy;
    private URI base;

    @AfterEach
    void stop() throws Exception {
        if (proxy != null) {
            proxy.close();
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void aPlainGetReachesTheBackendWithItsHeadersEditedAsAProxyMustWithoutVertxSeeingIt() throws Exception {
        start(ProxyPolicy.ALWAYS_OPEN);

        HttpResponse<String> response = Http.send(HttpRequest.newBuilder(base.resolve("/echo?q=1&r=two"))
                .header("X-Custom", "kept").header("Cookie", "a=b; c=d").header("X-Forwarded-For", "10.0.0.9"));

        assertThat(response.statusCode()).isEqualTo(200);
        JsonObject seen = new JsonObject(response.body());
        assertThat(seen.getString("uri")).isEqualTo("/echo?q=1&r=two");
        JsonObject headers = seen.getJsonObject("headers");
        assertThat(headers.getString("x-custom")).isEqualTo("kept");
        assertThat(headers.getString("cookie")).isEqualTo("a=b; c=d");
        assertThat(headers.getString("host")).isEqualTo("127.0.0.1:" + base.getPort());
        assertThat(headers.getString("x-forwarded-for")).isEqualTo("10.0.0.9, 127.0.0.1");
        assertThat(headers.getString("x-forwarded-proto")).isEqualTo("http");
        assertThat(headers.getString("x-forwarded-host")).isEqualTo("127.0.0.1:" + base.getPort());
        // The backend's own hop-by-hop headers stay on its side.
        assertThat(response.headers().firstValue("Keep-Alive")).isEmpty();
        assertThat(response.headers().firstValue("X-Backend")).hasValue("yes");
        assertThat(seenByVertx).hasValue(0);
        // Counted once the last piece is written, which may be after the client has read it.
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(completed).containsExactly("GET 200 " + response.body().length()));
    }

    @Test
    void theHopByHopHeadersOfTheClientAndThoseItsConnectionHeaderNamesStayOnItsSide() throws Exception {
        start(ProxyPolicy.ALWAYS_OPEN);

        try (Socket client = connect()) {
            send(client, "GET /echo HTTP/1.1\r\nHost: comfy\r\nConnection: keep-alive, X-Private\r\nX-Private: secret\r\n"
                    + "Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic eDp5\r\nX-Public: yes\r\n\r\n");
            JsonObject headers = new JsonObject(RawResponse.read(client.getInputStream()).body()).getJsonObject("headers");

            assertThat(headers.fieldNames()).doesNotContain("connection", "x-private", "keep-alive", "te", "proxy-authorization");
            assertThat(headers.getString("x-public")).isEqualTo("yes");
            assertThat(headers.getString("host")).isEqualTo("comfy");
        }
        assertThat(seenByVertx).hasValue(0);
    }

    @Test
    void requestsTheLaneDoesNotTakeGoThroughVertxAsBefore() throws Exception {
        start(ProxyPolicy.ALWAYS_OPEN);

        HttpResponse<String> own = Http.get(base.resolve("/own"));
        HttpResponse<String> upload = Http.send(HttpRequest.newBuilder(base.resolve("/echo")).POST(HttpRequest.BodyPublishers.ofString("body!")));
        try (Socket client = connect()) {
            send(client, "GET /echo HTTP/1.0\r\n\r\n");
            RawResponse old = RawResponse.read(client.getInputStream());
            assertThat(old.head()).startsWith("HTTP/1.0 200");
            assertThat(client.getInputStream().read()).isEqualTo(-1);
        }

        assertThat(own.body()).isEqualTo("own /own");
        assertThat(new JsonObject(upload.body()).getString("body")).isEqualTo("body!");
        assertThat(seenByVertx).hasValue(3);
    }

    @Test
    void aBackendThatIsNotReadyNowTakesTheWayThatCanWaitForIt() throws Exception {
        AtomicInteger admitted = new AtomicInteger();
        start(new ProxyPolicy() {
            @Override
            public Future<Void> admit(HttpServerRequest request) {
                admitted.incrementAndGet();
                return Future.succeededFuture();
            }

            @Override
            public void webSocketTraffic() {
            }
        });

        HttpResponse<String> response = Http.get(base.resolve("/echo"));

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(admitted).hasValue(1);
        assertThat(seenByVertx).hasValue(1);
    }

    @Test
    void pipelinedRequestsAreAnsweredInTheirOrderWhicheverWayEachTakes() throws Exception {
        start(ProxyPolicy.ALWAYS_OPEN);

        try (Socket client = connect()) {
            send(client, "GET /slow?n=1 HTTP/1.1\r\nHost: comfy\r\n\r\n"       // the lane, a slow backend
                    + "GET /own?n=2 HTTP/1.1\r\nHost: comfy\r\n\r\n"         // Vert.x, held until 1 is answered
                    + "GET /echo?n=3 HTTP/1.1\r\nHost: comfy\r\n\r\n"
                    + "POST /echo?n=4 HTTP/1.1\r\nHost: comfy\r\nContent-Length: 4\r\n\r\nfour"
                    + "GET /own/slow?n=5 HTTP/1.1\r\nHost: comfy\r\n\r\n"    // Vert.x, slow
                    + "GET /echo?n=6 HTTP/1.1\r\nHost: comfy\r\n\r\n");      // must not overtake 5

            assertThat(RawResponse.read(client.getInputStream()).body()).isEqualTo("slow /slow?n=1");
            assertThat(RawResponse.read(client.getInputStream()).body()).isEqualTo("own /own?n=2");
            assertThat(new JsonObject(RawResponse.read(client.getInputStream()).body()).getString("uri")).isEqualTo("/echo?n=3");
            JsonObject four = new JsonObject(RawResponse.read(client.getInputStream()).body());
            assertThat(four.getString("uri")).isEqualTo("/echo?n=4");
            assertThat(four.getString("body")).isEqualTo("four");
            assertThat(RawResponse.read(client.getInputStream()).body()).isEqualTo("own slowly /own/slow?n=5");
            assertThat(new JsonObject(RawResponse.read(client.getInputStream()).body()).getString("uri")).isEqualTo("/echo?n=6");
        }
    }

    @Test
    void headAndNoContentAnswersHaveNoBodyAndTheConnectionGoesOn() throws Exception {
        start(ProxyPolicy.ALWAYS_OPEN);

        try (Socket client = connect()) {
            send(client, "HEAD /echo HTTP/1.1\r\nHost: comfy\r\n\r\nGET /nothing HTTP/1.1\r\nHost: comfy\r\n\r\n"
                    + "GET /echo?after HTTP/1.1\r\nHost: comfy\r\n\r\n");
            InputStream in = client.getInputStream();

            RawResponse head = RawResponse.readHead(in);
            assertThat(head.status()).isEqualTo(200);
            assertThat(head.head()).contains("X-Backend: yes").doesNotContainIgnoringCase("transfer-encoding");
            RawResponse nothing = RawResponse.readHead(in);
            assertThat(nothing.status()).isEqualTo(204);
            assertThat(nothing.head()).doesNotContainIgnoringCase("transfer-encoding");
            assertThat(new JsonObject(RawResponse.read(in).body()).getString("uri")).isEqualTo("/echo?after");
        }
        assertThat(seenByVertx).hasValue(0);
    }

    @Test
    void aChunkedAnswerArrivesWholeInItsPieces() throws Exception {
        start(ProxyPolicy.ALWAYS_OPEN);

        HttpResponse<String> response = Http.get(base.resolve("/chunked"));

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("Transfer-Encoding")).hasValue("chunked");
        assertThat(response.body()).isEqualTo("one,two,three");
        assertThat(seenByVertx).hasValue(0);
    }

    @Test
    void aHeadWhoseBodyComesLaterReachesTheClientBeforeIt() throws Exception {
        start(ProxyPolicy.ALWAYS_OPEN);

        try (Socket client = connect()) {
            send(client, "GET /later HTTP/1.1\r\nHost: comfy\r\n\r\n");
            // The backend sends its body only once the client has the head: held back, the head would never come.
            RawResponse head = RawResponse.readHead(client.getInputStream());
            bodyMayGo.complete(null);

            assertThat(head.status()).isEqualTo(200);
            assertThat(head.head()).containsIgnoringCase("transfer-encoding: chunked");
            assertThat(new String(client.getInputStream().readNBytes("5\r\nlater\r\n0\r\n\r\n".length()), StandardCharsets.US_ASCII))
                    .isEqualTo("5\r\nlater\r\n0\r\n\r\n");
        }
    }

    @Test
    void aSlowClientSlowsTheBackendDownAndThenGetsEveryByte() throws Exception {
        start(ProxyPolicy.ALWAYS_OPEN);

        try (Socket client = connect()) {
            client.setReceiveBufferSize(64 * 1024);
            send(client, "GET /big HTTP/1.1\r\nHost: comfy\r\n\r\n");
            RawResponse head = RawResponse.readHead(client.getInputStream());
            assertThat(head.status()).isEqualTo(200);
            // The client reads nothing more for a while: the backend must be held back, not read into memory.
            Thread.sleep(1500);
            assertThat(bigWritten.get()).isLessThan(16L * MIB);

            long read = client.getInputStream().readNBytes(64 * MIB).length;
            assertThat(read).isEqualTo(64L * MIB);
        }
        assertThat(seenByVertx).hasValue(0);
    }

    @Test
    void aBackendThatIsDownIsAnswered502AndTheConnectionServesTheNextRequest() throws Exception {
        int closedPort = Ports.free();
        start(closedPort, ProxyPolicy.ALWAYS_OPEN);

        try (Socket client = connect()) {
            send(client, "GET /down?x=1 HTTP/1.1\r\nHost: comfy\r\n\r\n");
            RawResponse failed = RawResponse.read(client.getInputStream());
            send(client, "GET /own HTTP/1.1\r\nHost: comfy\r\n\r\n");
            RawResponse next = RawResponse.read(client.getInputStream());

            assertThat(failed.status()).isEqualTo(502);
            assertThat(failed.head()).containsIgnoringCase("content-type: application/json");
            assertThat(new JsonObject(failed.body()).getString("error"))
                    .startsWith("ComfyUI comfyui at 127.0.0.1:" + closedPort + " did not answer GET /down:").endsWith("(not retried)");
            assertThat(next.body()).isEqualTo("own /own");
        }
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(completed).first().asString().startsWith("GET 502 "));
    }

    @Test
    void aBackendThatDiesMidAnswerClosesTheClientsConnection() throws Exception {
        start(ProxyPolicy.ALWAYS_OPEN);

        try (Socket client = connect()) {
            send(client, "GET /cut HTTP/1.1\r\nHost: comfy\r\n\r\n");
            RawResponse head = RawResponse.readHead(client.getInputStream());
            assertThat(head.status()).isEqualTo(200);

            byte[] rest = client.getInputStream().readAllBytes();
            assertThat(new String(rest, StandardCharsets.US_ASCII)).contains("partial").doesNotEndWith("0\r\n\r\n");
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> !completed.isEmpty());
        assertThat(completed).containsExactly("GET " + ProxyMetrics.ABORTED + " " + "partial".length());
    }

    private void start(ProxyPolicy policy) throws Exception {
        HttpServer backend = vertx.createHttpServer().requestHandler(this::backend)
                .listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        start(backend.actualPort(), policy);
    }

    /**
     * A proxy to the backend on {@code port}, behind a server that answers {@code /own...} itself (what comfyctl's own
     * routes are to the daemon) and hands the proxy everything else.
     */
    private void start(int port, ProxyPolicy policy) throws Exception {
        proxy = new ReverseProxy(vertx, SocketAddress.inetSocketAddress(port, "127.0.0.1"), Duration.ofSeconds(30), policy, recording());
        ReverseProxy current = proxy;
        HttpServer front = vertx.createHttpServer(new HttpServerOptions().setMaxChunkSize(ReverseProxy.CHUNK_SIZE))
                .connectionHandler(proxy.connectionHandler(path -> !path.startsWith("/own")))
                .requestHandler(request -> {
                    seenByVertx.incrementAndGet();
                    if (request.path().equals("/own/slow")) {
                        vertx.setTimer(300, id -> request.response().end("own slowly " + request.uri()));
                    } else if (request.path().startsWith("/own")) {
                        request.response().end("own " + request.uri());
                    } else {
                        current.handle(request);
                    }
                })
                .listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        base = URI.create("http://127.0.0.1:" + front.actualPort());
    }

    private ProxyMetrics recording() {
        return new ProxyMetrics() {
            @Override
            public void requestCompleted(HttpMethod method, int status, long nanos, long bytesIn, long bytesOut) {
                completed.add(method + " " + status + " " + bytesOut);
            }

            @Override
            public void webSocketOpened() {
            }

            @Override
            public void webSocketBytesIn(int bytes) {
            }

            @Override
            public void webSocketBytesOut(int bytes) {
            }

            @Override
            public void webSocketClosed() {
            }
        };
    }

    private void backend(HttpServerRequest request) {
        switch (request.path()) {
            case "/slow" -> vertx.setTimer(300, id -> request.response().end("slow " + request.uri()));
            case "/nothing" -> request.response().setStatusCode(204).end();
            case "/chunked" -> {
                request.response().setChunked(true).write("one,");
                vertx.setTimer(50, id -> request.response().write("two,"));
                vertx.setTimer(100, id -> request.response().end("three"));
            }
            case "/big" -> {
                Buffer piece = Buffer.buffer(new byte[64 * 1024]);
                request.response().putHeader("Content-Length", Long.toString(64L * MIB));
                writeBig(request, piece);
            }
            case "/later" -> {
                request.response().setChunked(true).writeHead();
                bodyMayGo.thenRun(() -> vertx.runOnContext(v -> request.response().end("later")));
            }
            case "/cut" -> {
                request.response().setChunked(true).write("partial");
                vertx.setTimer(100, id -> request.connection().close());
            }
            default -> request.body().onSuccess(body -> {
                JsonObject headers = new JsonObject();
                request.headers().forEach(h -> headers.put(h.getKey().toLowerCase(Locale.ROOT), h.getValue()));
                request.response().putHeader("Content-Type", "application/json").putHeader("Keep-Alive", "timeout=5")
                        .putHeader("X-Backend", "yes")
                        .end(new JsonObject().put("uri", request.uri()).put("headers", headers).put("body", body.toString()).encode());
            });
        }
    }

    private void writeBig(HttpServerRequest request, Buffer piece) {
        while (bigWritten.get() < 64L * MIB && !request.response().writeQueueFull()) {
            request.response().write(piece);
            bigWritten.addAndGet(piece.length());
        }
        if (bigWritten.get() >= 64L * MIB) {
            request.response().end();
        } else {
            request.response().drainHandler(v -> writeBig(request, piece));
        }
    }

    private Socket connect() throws IOException {
        Socket socket = new Socket(base.getHost(), base.getPort());
        socket.setSoTimeout(30_000);
        return socket;
    }

    private static void send(Socket socket, String text) throws IOException {
        socket.getOutputStream().write(text.getBytes(StandardCharsets.US_ASCII));
        socket.getOutputStream().flush();
    }
}
