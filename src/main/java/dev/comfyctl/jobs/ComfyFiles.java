package dev.comfyctl.jobs;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;

/**
 * The parts of ComfyUI's HTTP API a job needs beyond {@code ComfyClient}: {@code POST /upload/image},
 * {@code GET /view} into a file, {@code POST /queue} delete and {@code GET /object_info}. Blocking calls; a
 * failure to reach ComfyUI is a {@link ComfyUnreachableException}, a refusal an {@link IOException}.
 */
final class ComfyFiles {
    /** The stored copy of one output. */
    record Stored(long size, String sha256) {
    }

    private final HttpClient http;
    private final URI base;
    private final Duration timeout;

    ComfyFiles(HttpClient http, URI base, Duration timeout) {
        this.http = http;
        this.base = base.toString().endsWith("/") ? base : URI.create(base + "/");
        this.timeout = timeout;
    }

    /** Uploads an input to ComfyUI's input directory under its own name, replacing a file of that name. */
    void upload(JobInput input) throws ComfyUnreachableException, IOException {
        String boundary = "comfyctl-" + UUID.randomUUID();
        String head = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"overwrite\"\r\n\r\ntrue\r\n"
                + "--" + boundary + "\r\nContent-Disposition: form-data; name=\"image\"; filename=\""
                + input.name().replace("\"", "") + "\"\r\nContent-Type: application/octet-stream\r\n\r\n";
        String tail = "\r\n--" + boundary + "--\r\n";
        HttpRequest request = HttpRequest.newBuilder(base.resolve("upload/image")).timeout(timeout)
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArrays(List.of(head.getBytes(StandardCharsets.UTF_8), input.content(),
                        tail.getBytes(StandardCharsets.UTF_8))))
                .build();
        HttpResponse<String> response = send(request, HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            throw new IOException("ComfyUI refused the upload of " + input.name() + " (" + response.statusCode() + "): "
                    + response.body());
        }
    }

    /** Fetches one output with {@code GET /view} into {@code target} (written whole or not at all). */
    Stored download(String filename, String subfolder, String type, Path target) throws ComfyUnreachableException, IOException {
        URI uri = base.resolve("view?filename=" + encode(filename) + "&subfolder=" + encode(subfolder) + "&type=" + encode(type));
        // Not timeout.multipliedBy(12): that goes through BigDecimal, 3% of a job's run on the jobs bench.
        HttpRequest request = HttpRequest.newBuilder(uri).timeout(Duration.ofNanos(timeout.toNanos() * 12)).GET().build();
        HttpResponse<InputStream> response = send(request, HttpResponse.BodyHandlers.ofInputStream());
        try (InputStream body = response.body()) {
            if (response.statusCode() != 200) {
                throw new IOException("GET " + uri + " answered " + response.statusCode());
            }
            Files.createDirectories(target.getParent());
            Path partial = target.resolveSibling(target.getFileName() + ".part");
            MessageDigest sha256 = sha256();
            long size;
            try (OutputStream out = new DigestOutputStream(Files.newOutputStream(partial), sha256)) {
                size = body.transferTo(out);
            }
            Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            return new Stored(size, HexFormat.of().formatHex(sha256.digest()));
        }
    }

    /** Takes a pending prompt out of ComfyUI's queue ({@code POST /queue {"delete": [id]}}). */
    void deleteQueued(String promptId) throws ComfyUnreachableException {
        String body = "{\"delete\": [\"" + promptId.replace("\"", "") + "\"]}";
        send(HttpRequest.newBuilder(base.resolve("queue")).timeout(timeout).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.discarding());
    }

    /** {@code GET /object_info}: every node class ComfyUI knows, as JSON text. */
    String objectInfo() throws ComfyUnreachableException, IOException {
        HttpRequest request = HttpRequest.newBuilder(base.resolve("object_info")).timeout(timeout.multipliedBy(6)).GET().build();
        HttpResponse<String> response = send(request, HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            throw new IOException("GET " + request.uri() + " answered " + response.statusCode());
        }
        return response.body();
    }

    private <T> HttpResponse<T> send(HttpRequest request, HttpResponse.BodyHandler<T> handler) throws ComfyUnreachableException {
        try {
            return http.send(request, handler);
        } catch (IOException e) {
            throw new ComfyUnreachableException(request.method() + " " + request.uri() + " failed: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ComfyUnreachableException(request.method() + " " + request.uri() + " interrupted", e);
        }
    }

    private static String encode(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8).replace("+", "%20");
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java has SHA-256", e);
        }
    }
}
