package dev.comfyctl.telemetry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;

/** A real webhook receiver on a free port: records every JSON body it accepts, answering what {@code status} says. */
final class Receiver implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpServer server;
    private final List<JsonNode> accepted = new CopyOnWriteArrayList<>();
    private final AtomicInteger requests = new AtomicInteger();

    private Receiver(HttpServer server) {
        this.server = server;
    }

    /** @param status the status of each answer; a body is recorded only when it is 2xx */
    static Receiver start(int port, IntSupplier status) {
        try {
            HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
            Receiver receiver = new Receiver(server);
            server.createContext("/hook", exchange -> {
                receiver.requests.incrementAndGet();
                byte[] body = exchange.getRequestBody().readAllBytes();
                int code = status.getAsInt();
                if (code / 100 == 2) {
                    receiver.accepted.add(JSON.readTree(body));
                }
                exchange.sendResponseHeaders(code, -1);
                exchange.close();
            });
            server.setExecutor(Executors.newCachedThreadPool());
            server.start();
            return receiver;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Receiver start(IntSupplier status) {
        return start(0, status);
    }

    int port() {
        return server.getAddress().getPort();
    }

    URI url() {
        return URI.create("http://127.0.0.1:" + port() + "/hook?token=s3cret");
    }

    List<JsonNode> accepted() {
        return accepted;
    }

    List<String> acceptedTypes() {
        return accepted.stream().map(node -> node.path("type").asText()).toList();
    }

    int requests() {
        return requests.get();
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
