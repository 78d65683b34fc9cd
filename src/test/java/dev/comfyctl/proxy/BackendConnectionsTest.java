package dev.comfyctl.proxy;

import dev.comfyctl.testing.Http;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.net.SocketAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.Socket;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** How the proxy uses its connections to a backend: kept alive and reused, but never one a backend or a client gave up. */
class BackendConnectionsTest {
    private final Vertx vertx = Vertx.vertx();
    private final AtomicInteger opened = new AtomicInteger();
    private final AtomicInteger closed = new AtomicInteger();
    private ReverseProxy proxy;
    private int backendPort;

    @AfterEach
    void stop() throws Exception {
        if (proxy != null) {
            proxy.close();
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void keptAliveConnectionsToTheBackendAreReused() throws Exception {
        URI base = proxyTo(request -> request.response().end("answer to " + request.uri()));

        for (int i = 1; i <= 5; i++) {
            HttpResponse<String> response = Http.get(base.resolve("/n/" + i));
            assertThat(response.statusCode()).isEqualTo(200);
            assertThat(response.body()).isEqualTo("answer to /n/" + i);
        }

        assertThat(opened).hasValue(1);
    }

    @Test
    void aBackendThatClosesEveryConnectionIsAnsweredEveryTime() throws Exception {
        URI base = proxyTo(request -> request.response().putHeader("Connection", "close").end("once"));

        for (int i = 1; i <= 3; i++) {
            HttpResponse<String> response = Http.get(base.resolve("/"));
            assertThat(response.statusCode()).isEqualTo(200);
            assertThat(response.body()).isEqualTo("once");
            assertThat(response.headers().firstValue("Connection")).isEmpty();
        }

        assertThat(opened).hasValue(3);
    }

    @Test
    void aClientThatLeavesMidResponseClosesItsBackendConnectionAndSpoilsNoOther() throws Exception {
        Buffer piece = Buffer.buffer(new byte[64 * 1024]);
        URI base = proxyTo(request -> {
            if (request.path().equals("/endless")) {
                request.response().setChunked(true);
                long timer = vertx.setPeriodic(5, id -> request.response().write(piece));
                request.response().closeHandler(v -> vertx.cancelTimer(timer));
            } else {
                request.response().end("fine");
            }
        });

        try (Socket client = new Socket(base.getHost(), base.getPort())) {
            client.getOutputStream().write("GET /endless HTTP/1.1\r\nHost: comfy\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertThat(client.getInputStream().readNBytes(256 * 1024)).hasSize(256 * 1024);
        }

        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(closed).hasValue(1));
        HttpResponse<String> next = Http.get(base.resolve("/next"));
        assertThat(next.statusCode()).isEqualTo(200);
        assertThat(next.body()).isEqualTo("fine");
    }

    @Test
    void anHttp10RequestWithoutHostReachesTheBackendWithItsAddressAsHost() throws Exception {
        URI base = proxyTo(request -> request.response().end("host " + request.getHeader("Host")));

        try (Socket client = new Socket(base.getHost(), base.getPort())) {
            client.getOutputStream().write("GET /old HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            String answer = new String(client.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);

            assertThat(answer).startsWith("HTTP/1.0 200").endsWith("host 127.0.0.1:" + backendPort);
        }
    }

    @Test
    void theStatusLineIsTheBackendsReasonPhraseIncluded() throws Exception {
        URI base = proxyTo(request -> request.response().setStatusCode(request.path().equals("/own") ? 503 : 404)
                .setStatusMessage(request.path().equals("/own") ? "Waking Up" : "Not Found").end());

        try (Socket client = new Socket(base.getHost(), base.getPort())) {
            client.getOutputStream().write("GET /own HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertThat(new String(client.getInputStream().readAllBytes(), StandardCharsets.US_ASCII)).startsWith("HTTP/1.0 503 Waking Up\r\n");
        }
        try (Socket client = new Socket(base.getHost(), base.getPort())) {
            client.getOutputStream().write("GET /usual HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertThat(new String(client.getInputStream().readAllBytes(), StandardCharsets.US_ASCII)).startsWith("HTTP/1.0 404 Not Found\r\n");
        }
    }

    /** Starts {@code answer} as the backend and a proxy in front of it; the proxy's base URI. */
    private URI proxyTo(Consumer<HttpServerRequest> answer) throws Exception {
        HttpServer backend = vertx.createHttpServer()
                .connectionHandler(connection -> {
                    opened.incrementAndGet();
                    connection.closeHandler(v -> closed.incrementAndGet());
                })
                .requestHandler(answer::accept)
                .listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        backendPort = backend.actualPort();
        proxy = new ReverseProxy(vertx, SocketAddress.inetSocketAddress(backendPort, "127.0.0.1"),
                Duration.ofSeconds(30), ProxyPolicy.ALWAYS_OPEN, ProxyMetrics.NONE);
        HttpServer front = vertx.createHttpServer().connectionHandler(proxy.connectionHandler()).requestHandler(proxy).listen(0, "127.0.0.1")
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        return URI.create("http://127.0.0.1:" + front.actualPort());
    }
}
