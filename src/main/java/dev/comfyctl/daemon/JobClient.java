package dev.comfyctl.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.function.BiConsumer;

/** What the CLI uses for the daemon's job queue ({@code /jobs}): submit, look, cancel, follow, download. */
public final class JobClient {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CONNECT_TIMEOUT_MS = 2_000;
    private static final int READ_TIMEOUT_MS = 120_000;

    /** An answer of the daemon: its status and JSON body. */
    public record Answer(int status, JsonNode body) {
        public boolean ok() {
            return status / 100 == 2;
        }

        /** The daemon's error message, or the body when it has none. */
        public String error() {
            JsonNode error = body.path("error");
            return error.isTextual() ? error.asText() : error.isObject() ? error.path("message").asText() + describe(body) : body.toString();
        }

        private static String describe(JsonNode body) {
            StringBuilder details = new StringBuilder();
            String text = body.path("error").path("details").asText("");
            if (!text.isBlank()) {
                details.append(": ").append(text.strip().replace('\n', ';'));
            }
            return details.toString();
        }
    }

    private final DaemonInfo info;
    private final Optional<String> token;

    public JobClient(DaemonInfo info, Optional<String> token) {
        this.info = info;
        this.token = token;
    }

    /** {@code POST /jobs} as multipart: the workflow file (its JSON as is) and input files. */
    public Answer submit(Path workflow, int priority, Optional<String> webhook, List<Path> inputs) throws IOException {
        String boundary = "comfyctl-" + UUID.randomUUID();
        HttpURLConnection connection = open("POST", "/jobs", READ_TIMEOUT_MS);
        connection.setDoOutput(true);
        connection.setChunkedStreamingMode(64 * 1024);
        connection.setRequestProperty("Content-Type", "multipart/form-data; boundary=" + boundary);
        try (OutputStream out = connection.getOutputStream()) {
            field(out, boundary, "priority", Integer.toString(priority));
            if (webhook.isPresent()) {
                field(out, boundary, "webhook", webhook.get());
            }
            file(out, boundary, "workflow", workflow);
            for (Path input : inputs) {
                file(out, boundary, "input", input);
            }
            out.write(("--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        }
        return answer(connection);
    }

    /** A request without a body: {@code GET /jobs/{id}}, {@code DELETE /jobs/{id}}, {@code GET /jobs?state=}, {@code GET /fleet}. */
    public Answer call(String method, String path) throws IOException {
        return answer(open(method, path, READ_TIMEOUT_MS));
    }

    public Answer list(Optional<String> state) throws IOException {
        return call("GET", "/jobs" + state.map(s -> "?state=" + URLEncoder.encode(s, StandardCharsets.UTF_8)).orElse(""));
    }

    /**
     * Follows {@code GET /jobs/{id}/events} until the daemon ends the stream (the job finished) or it breaks.
     *
     * @param onEvent told each event's name and data, in order
     */
    public void follow(String id, BiConsumer<String, JsonNode> onEvent) throws IOException {
        HttpURLConnection connection = open("GET", "/jobs/" + id + "/events", 0);
        if (connection.getResponseCode() != 200) {
            Answer answer = answer(connection);
            throw new IOException(answer.error());
        }
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(connection.getInputStream(), StandardCharsets.UTF_8))) {
            String event = "message";
            StringBuilder data = new StringBuilder();
            for (String line = lines.readLine(); line != null; line = lines.readLine()) {
                if (line.startsWith("event:")) {
                    event = line.substring(6).strip();
                } else if (line.startsWith("data:")) {
                    data.append(line.substring(5).strip());
                } else if (line.isEmpty() && !data.isEmpty()) {
                    onEvent.accept(event, JSON.readTree(data.toString()));
                    event = "message";
                    data.setLength(0);
                }
            }
        }
    }

    /** Saves {@code GET /jobs/{id}/outputs/<filename>} as {@code target}, whole or not at all. */
    public void download(String id, String filename, Path target) throws IOException {
        HttpURLConnection connection = open("GET", "/jobs/" + id + "/outputs/"
                + URLEncoder.encode(filename, StandardCharsets.UTF_8).replace("+", "%20"), READ_TIMEOUT_MS);
        if (connection.getResponseCode() != 200) {
            throw new IOException("cannot download " + filename + ": " + answer(connection).error());
        }
        Files.createDirectories(target.toAbsolutePath().getParent());
        Path partial = target.resolveSibling(target.getFileName() + ".part");
        try (InputStream body = connection.getInputStream()) {
            Files.copy(body, partial, StandardCopyOption.REPLACE_EXISTING);
        }
        Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    public String baseUrl() {
        return info.baseUrl();
    }

    private HttpURLConnection open(String method, String path, int readTimeoutMs) throws IOException {
        HttpURLConnection connection = (HttpURLConnection) URI.create(info.baseUrl() + path).toURL().openConnection();
        connection.setRequestMethod(method);
        connection.setConnectTimeout(CONNECT_TIMEOUT_MS);
        connection.setReadTimeout(readTimeoutMs);
        token.ifPresent(t -> connection.setRequestProperty("Authorization", "Bearer " + t));
        return connection;
    }

    private Answer answer(HttpURLConnection connection) throws IOException {
        int status = connection.getResponseCode();
        if (status == 401) {
            throw new DaemonException("the comfyctl daemon at " + info.baseUrl() + " refused the token: set MANAGER_TOKEN"
                    + " to the daemon's token, in the environment or config.env");
        }
        InputStream stream = status >= 400 ? connection.getErrorStream() : connection.getInputStream();
        try (InputStream body = stream == null ? InputStream.nullInputStream() : stream) {
            byte[] bytes = body.readAllBytes();
            JsonNode json = bytes.length == 0 ? JSON.createObjectNode() : JSON.readTree(bytes);
            return new Answer(status, json);
        }
    }

    private static void field(OutputStream out, String boundary, String name, String value) throws IOException {
        out.write(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n")
                .getBytes(StandardCharsets.UTF_8));
    }

    private static void file(OutputStream out, String boundary, String name, Path file) throws IOException {
        out.write(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"; filename=\""
                + file.getFileName().toString().replace("\"", "") + "\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .getBytes(StandardCharsets.UTF_8));
        Files.copy(file, out);
        out.write("\r\n".getBytes(StandardCharsets.UTF_8));
    }
}
