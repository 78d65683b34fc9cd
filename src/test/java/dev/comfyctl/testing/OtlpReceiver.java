package dev.comfyctl.testing;

import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A real OTLP/HTTP trace receiver on a free loopback port: records every {@code POST /v1/traces} (headers and
 * protobuf body) and answers 200, as a collector does.
 */
public final class OtlpReceiver implements AutoCloseable {
    /** One export request as it arrived. */
    public record Request(Map<String, List<String>> headers, byte[] body) {
        /** The body as ISO-8859-1 text, where the protobuf's strings (span names, attribute values) can be found. */
        public String text() {
            return new String(body, StandardCharsets.ISO_8859_1);
        }

        public String header(String name) {
            return headers.entrySet().stream().filter(e -> e.getKey().equalsIgnoreCase(name))
                    .map(e -> String.join(",", e.getValue())).findFirst().orElse("");
        }
    }

    private final HttpServer server;
    private final List<Request> requests = new CopyOnWriteArrayList<>();

    private OtlpReceiver(HttpServer server) {
        this.server = server;
    }

    public static OtlpReceiver start() {
        try {
            HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
            OtlpReceiver receiver = new OtlpReceiver(server);
            server.createContext("/v1/traces", exchange -> {
                byte[] body = exchange.getRequestBody().readAllBytes();
                if (exchange.getRequestMethod().equals("POST")) {
                    receiver.requests.add(new Request(Map.copyOf(exchange.getRequestHeaders()), body));
                    exchange.getResponseHeaders().add("Content-Type", "application/x-protobuf");
                    exchange.sendResponseHeaders(200, -1);
                } else {
                    exchange.sendResponseHeaders(405, -1);
                }
                exchange.close();
            });
            server.start();
            return receiver;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The base endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT takes it. */
    public String endpoint() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    public List<Request> requests() {
        return requests;
    }

    /** Every body so far, concatenated as text. */
    public String received() {
        StringBuilder all = new StringBuilder();
        requests.forEach(request -> all.append(request.text()));
        return all.toString();
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
