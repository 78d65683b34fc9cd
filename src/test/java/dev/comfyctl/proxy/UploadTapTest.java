package dev.comfyctl.proxy;

import dev.comfyctl.testing.Http;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.SocketAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Uploads through the proxy, whose bodies go from the client's connection to the backend's without passing through
 * Vert.x ({@link UploadTap}): they arrive whole, in order and byte for byte, however they are sent, and the client's
 * connection goes on serving requests after them, whatever happened to them.
 */
@Timeout(60)
class UploadTapTest {
    private static final int MIB = 1024 * 1024;

    private final Vertx vertx = Vertx.vertx();
    /** Bytes of bodies the backend has received, all requests together. */
    private final AtomicLong backendReceived = new AtomicLong();
    /** Requests whose body the backend never got whole: their client, or the proxy, went away. */
    private final AtomicInteger backendCutOff = new AtomicInteger();
    /** The last request the proxy's server handed to the proxy. */
    private final AtomicReference<HttpServerRequest> lastRequest = new AtomicReference<>();
    private ReverseProxy proxy;
    private URI base;

    /**
     * The backend answers a body with its size and SHA-256; {@code /fail?after=N} closes its connection once it has N
     * bytes of the body.
     */
    @BeforeEach
    void startBackendAndProxy() throws Exception {
        HttpServer backend = vertx.createHttpServer().requestHandler(this::digest)
                .listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        base = proxyTo(backend.actualPort(), ProxyPolicy.ALWAYS_OPEN);
    }

    @AfterEach
    void stop() throws Exception {
        proxy.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void aMultiMiBUploadArrivesByteForByteWithoutPassingThroughVertx() throws Exception {
        byte[] body = random(48 * MIB + 17, 1);

        HttpResponse<String> response = Http.send(HttpRequest.newBuilder(base.resolve("/sink"))
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)));

        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        JsonObject received = new JsonObject(response.body());
        assertThat(received.getLong("bytes")).isEqualTo(body.length);
        assertThat(received.getString("sha256")).isEqualTo(sha256(body));
        // Vert.x counts the body's bytes it delivers: it delivered none, the tap took them all.
        assertThat(lastRequest.get().bytesRead()).isZero();
    }

    @Test
    void aChunkedUploadWithTrailersArrivesWholeAndInOrderAndItsConnectionServesTheNextRequest() throws Exception {
        Random sizes = new Random(7);
        ByteArrayOutputStream sent = new ByteArrayOutputStream();
        try (Socket client = connect()) {
            OutputStream out = client.getOutputStream();
            out.write(ascii("POST /sink HTTP/1.1\r\nHost: comfy\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"));
            for (int i = 0; i < 300; i++) {
                byte[] chunk = random(1 + sizes.nextInt(i % 3 == 0 ? 100 : 100_000), i);
                sent.write(chunk);
                out.write(ascii(Integer.toHexString(chunk.length) + "\r\n"));
                out.write(chunk);
                out.write(ascii("\r\n"));
            }
            out.write(ascii("0\r\nX-Checksum: none\r\n\r\n"));
            out.flush();

            RawResponse answer = RawResponse.read(client.getInputStream());
            assertThat(answer.status()).as(answer.body()).isEqualTo(200);
            JsonObject received = new JsonObject(answer.body());
            assertThat(received.getLong("bytes")).isEqualTo(sent.size());
            assertThat(received.getString("sha256")).isEqualTo(sha256(sent.toByteArray()));
            assertThat(received.getBoolean("chunked")).isTrue();

            out.write(ascii("GET /after HTTP/1.1\r\nHost: comfy\r\n\r\n"));
            out.flush();
            RawResponse next = RawResponse.read(client.getInputStream());
            assertThat(next.status()).isEqualTo(200);
            assertThat(new JsonObject(next.body()).getString("uri")).isEqualTo("/after");
        }
    }

    @Test
    void twoUploadsInARowOnOneKeptAliveConnectionBothArriveAndAreAnswered() throws Exception {
        try (Socket client = connect()) {
            for (int i = 1; i <= 2; i++) {
                byte[] body = random(3 * MIB + i, 10 + i);
                client.getOutputStream().write(ascii("POST /sink/" + i + " HTTP/1.1\r\nHost: comfy\r\nContent-Length: " + body.length + "\r\n\r\n"));
                client.getOutputStream().write(body);
                client.getOutputStream().flush();

                RawResponse answer = RawResponse.read(client.getInputStream());
                assertThat(answer.status()).as(answer.body()).isEqualTo(200);
                JsonObject received = new JsonObject(answer.body());
                assertThat(received.getString("uri")).isEqualTo("/sink/" + i);
                assertThat(received.getString("sha256")).isEqualTo(sha256(body));
            }
        }
    }

    @Test
    void pipelinedUploadsAreAnsweredInOrderEachWithItsWholeBody() throws Exception {
        byte[] first = random(2 * MIB, 21);
        byte[] second = random(MIB + 5, 22);
        ByteArrayOutputStream both = new ByteArrayOutputStream();
        both.write(ascii("POST /first HTTP/1.1\r\nHost: comfy\r\nContent-Length: " + first.length + "\r\n\r\n"));
        both.write(first);
        both.write(ascii("POST /second HTTP/1.1\r\nHost: comfy\r\nContent-Length: " + second.length + "\r\n\r\n"));
        both.write(second);
        try (Socket client = connect()) {
            CompletableFuture<Void> sending = CompletableFuture.runAsync(() -> write(client, both.toByteArray()));

            RawResponse one = RawResponse.read(client.getInputStream());
            RawResponse two = RawResponse.read(client.getInputStream());
            sending.get(30, TimeUnit.SECONDS);

            assertThat(new JsonObject(one.body()).getString("uri")).isEqualTo("/first");
            assertThat(new JsonObject(one.body()).getString("sha256")).isEqualTo(sha256(first));
            assertThat(new JsonObject(two.body()).getString("uri")).isEqualTo("/second");
            assertThat(new JsonObject(two.body()).getString("sha256")).isEqualTo(sha256(second));
        }
    }

    @Test
    void smallPipelinedUploadsReadInOneGoAreAnsweredInOrderEachWithItsBody() throws Exception {
        // The first body ends in the read that brings the next heads, before the backend's connection is there.
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        for (int i = 1; i <= 3; i++) {
            all.write(ascii("POST /small/" + i + " HTTP/1.1\r\nHost: comfy\r\nContent-Length: " + (10 * i) + "\r\n\r\n"));
            all.write(random(10 * i, 80 + i));
        }
        try (Socket client = connect()) {
            write(client, all.toByteArray());

            for (int i = 1; i <= 3; i++) {
                RawResponse answer = RawResponse.read(client.getInputStream());
                assertThat(answer.status()).as(answer.body()).isEqualTo(200);
                JsonObject received = new JsonObject(answer.body());
                assertThat(received.getString("uri")).isEqualTo("/small/" + i);
                assertThat(received.getString("sha256")).isEqualTo(sha256(random(10 * i, 80 + i)));
            }
        }
    }

    @Test
    void anUploadThatExpects100ContinueGetsItThenArrives() throws Exception {
        byte[] body = random(5 * MIB, 31);
        try (Socket client = connect()) {
            client.getOutputStream().write(ascii("PUT /sink HTTP/1.1\r\nHost: comfy\r\nExpect: 100-continue\r\nContent-Length: "
                    + body.length + "\r\n\r\n"));
            client.getOutputStream().flush();
            RawResponse interim = RawResponse.read(client.getInputStream());
            assertThat(interim.status()).isEqualTo(100);

            client.getOutputStream().write(body);
            client.getOutputStream().flush();
            RawResponse answer = RawResponse.read(client.getInputStream());
            assertThat(answer.status()).as(answer.body()).isEqualTo(200);
            assertThat(new JsonObject(answer.body()).getString("sha256")).isEqualTo(sha256(body));
        }
    }

    @Test
    void anHttp10UploadArrivesAndItsConnectionIsClosedAfterTheAnswer() throws Exception {
        byte[] body = random(4 * MIB, 41);
        try (Socket client = connect()) {
            client.getOutputStream().write(ascii("POST /sink HTTP/1.0\r\nContent-Length: " + body.length + "\r\n\r\n"));
            client.getOutputStream().write(body);
            client.getOutputStream().flush();

            RawResponse answer = RawResponse.read(client.getInputStream());
            assertThat(answer.head()).startsWith("HTTP/1.0 200");
            assertThat(new JsonObject(answer.body()).getString("sha256")).isEqualTo(sha256(body));
            assertThat(client.getInputStream().read()).isEqualTo(-1);
        }
    }

    @Test
    void aClientThatLeavesMidUploadCutsItsBackendRequestAndLeavesTheNextRequestUnharmed() throws Exception {
        try (Socket client = connect()) {
            client.getOutputStream().write(ascii("POST /sink HTTP/1.1\r\nHost: comfy\r\nContent-Length: " + 64 * MIB + "\r\n\r\n"));
            client.getOutputStream().write(random(4 * MIB, 51));
            client.getOutputStream().flush();
            await().atMost(Duration.ofSeconds(20)).until(() -> backendReceived.get() >= MIB);
        }

        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(backendCutOff).hasValue(1));
        byte[] body = random(2 * MIB, 52);
        HttpResponse<String> next = Http.send(HttpRequest.newBuilder(base.resolve("/sink")).POST(HttpRequest.BodyPublishers.ofByteArray(body)));
        assertThat(next.statusCode()).isEqualTo(200);
        assertThat(new JsonObject(next.body()).getString("sha256")).isEqualTo(sha256(body));
    }

    @Test
    void aBackendThatFailsMidUploadIsA502AndTheRestOfTheBodyIsDroppedNotStuck() throws Exception {
        byte[] body = random(16 * MIB, 61);
        try (Socket client = connect()) {
            CompletableFuture<Void> sending = CompletableFuture.runAsync(() -> {
                write(client, ascii("POST /fail?after=" + MIB + " HTTP/1.1\r\nHost: comfy\r\nContent-Length: " + body.length + "\r\n\r\n"));
                write(client, body);
            });

            RawResponse answer = RawResponse.read(client.getInputStream());
            assertThat(answer.status()).isEqualTo(502);
            assertThat(new JsonObject(answer.body()).getString("error")).contains("did not answer POST /fail", "not retried");
            sending.get(30, TimeUnit.SECONDS);

            byte[] next = random(MIB, 62);
            write(client, ascii("POST /sink HTTP/1.1\r\nHost: comfy\r\nContent-Length: " + next.length + "\r\n\r\n"));
            write(client, next);
            RawResponse after = RawResponse.read(client.getInputStream());
            assertThat(after.status()).as(after.body()).isEqualTo(200);
            assertThat(new JsonObject(after.body()).getString("sha256")).isEqualTo(sha256(next));
        }
    }

    @Test
    void anUploadThePolicyRefusesLaterIsAnsweredAndItsConnectionServesTheNext() throws Exception {
        ProxyPolicy refusesSome = new ProxyPolicy() {
            @Override
            public Future<Void> admit(HttpServerRequest request) {
                // Decided a while after the head: meanwhile the body has started to arrive.
                return vertx.timer(100).compose(v -> request.path().startsWith("/refused")
                        ? Future.failedFuture(new RejectedException(new Rejection(503, MultiMap.caseInsensitiveMultiMap(),
                        "application/json", "{\"state\":\"STOPPED\"}")))
                        : Future.succeededFuture());
            }

            @Override
            public void webSocketTraffic() {
            }
        };
        proxy.close();
        HttpServer backend = vertx.createHttpServer().requestHandler(this::digest)
                .listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        URI gated = proxyTo(backend.actualPort(), refusesSome);

        try (Socket client = new Socket(gated.getHost(), gated.getPort())) {
            byte[] refused = random(8 * MIB, 71);
            CompletableFuture<Void> sending = CompletableFuture.runAsync(() -> {
                write(client, ascii("POST /refused HTTP/1.1\r\nHost: comfy\r\nContent-Length: " + refused.length + "\r\n\r\n"));
                write(client, refused);
            });
            RawResponse answer = RawResponse.read(client.getInputStream());
            assertThat(answer.status()).isEqualTo(503);
            assertThat(answer.body()).isEqualTo("{\"state\":\"STOPPED\"}");
            sending.get(30, TimeUnit.SECONDS);

            byte[] admitted = random(3 * MIB, 72);
            write(client, ascii("POST /sink HTTP/1.1\r\nHost: comfy\r\nContent-Length: " + admitted.length + "\r\n\r\n"));
            write(client, admitted);
            RawResponse after = RawResponse.read(client.getInputStream());
            assertThat(after.status()).as(after.body()).isEqualTo(200);
            assertThat(new JsonObject(after.body()).getString("sha256")).isEqualTo(sha256(admitted));
        }
        assertThat(backendReceived.get()).isEqualTo(3 * MIB);
    }

    private void digest(HttpServerRequest request) {
        MessageDigest sha256 = sha256();
        long[] bytes = {0};
        long failAfter = request.path().equals("/fail") ? Long.parseLong(request.getParam("after")) : Long.MAX_VALUE;
        request.handler(piece -> {
            sha256.update(piece.getBytes());
            bytes[0] += piece.length();
            backendReceived.addAndGet(piece.length());
            if (bytes[0] >= failAfter) {
                request.connection().close();
            }
        });
        request.exceptionHandler(e -> backendCutOff.incrementAndGet());
        request.endHandler(v -> request.response().putHeader("Content-Type", "application/json").end(new JsonObject()
                .put("uri", request.uri())
                .put("bytes", bytes[0])
                .put("sha256", HexFormat.of().formatHex(sha256.digest()))
                .put("chunked", "chunked".equalsIgnoreCase(request.getHeader("Transfer-Encoding")))
                .encode()));
    }

    /** A proxy to the backend on {@code port}, behind a server with its upload tap; its base URI. */
    private URI proxyTo(int port, ProxyPolicy policy) throws Exception {
        proxy = new ReverseProxy(vertx, SocketAddress.inetSocketAddress(port, "127.0.0.1"), Duration.ofSeconds(30), policy, ProxyMetrics.NONE);
        ReverseProxy current = proxy;
        HttpServer front = vertx.createHttpServer(new HttpServerOptions().setHandle100ContinueAutomatically(true)
                        .setMaxChunkSize(ReverseProxy.CHUNK_SIZE))
                .connectionHandler(proxy.connectionHandler())
                .requestHandler(request -> {
                    lastRequest.set(request);
                    current.handle(request);
                })
                .listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        return URI.create("http://127.0.0.1:" + front.actualPort());
    }

    private Socket connect() throws IOException {
        Socket socket = new Socket(base.getHost(), base.getPort());
        socket.setSoTimeout(30_000);
        return socket;
    }

    private static void write(Socket socket, byte[] bytes) {
        try {
            socket.getOutputStream().write(bytes);
            socket.getOutputStream().flush();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static byte[] random(int size, long seed) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    private static byte[] ascii(String text) {
        return text.getBytes(StandardCharsets.US_ASCII);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String sha256(byte[] bytes) {
        return HexFormat.of().formatHex(sha256().digest(bytes));
    }
}
