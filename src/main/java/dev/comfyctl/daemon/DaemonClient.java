package dev.comfyctl.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * What the CLI uses to talk to a running daemon. Plain {@link HttpURLConnection}: it loads fast, and a CLI
 * command pays the JVM's start-up on every call.
 */
public final class DaemonClient {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(2);

    private final DaemonInfo info;
    private final Optional<String> token;

    /** @param token the daemon's MANAGER_TOKEN, when it has one */
    public DaemonClient(DaemonInfo info, Optional<String> token) {
        this.info = info;
        this.token = token;
    }

    /** {@code GET /manager/status}. */
    public JsonNode status() {
        return call("GET", "/manager/status", Duration.ofSeconds(15));
    }

    /**
     * One request to one of the daemon's own paths, answered with JSON.
     *
     * @param readTimeout zero for none: a forced restart that drains the queue may take long
     * @throws DaemonException when the daemon cannot be reached or refuses the token
     */
    public JsonNode call(String method, String path, Duration readTimeout) {
        HttpURLConnection connection = open(method, path, readTimeout);
        try (InputStream body = responseBody(connection)) {
            return JSON.readTree(body);
        } catch (IOException e) {
            throw unreachable(e);
        }
    }

    /**
     * {@code POST /manager/{action}} (start, stop or restart), streaming each step to {@code onStep}.
     *
     * @return the final result line: {@code ok}, and {@code error}, {@code step}, {@code logTail} on failure
     */
    public JsonNode lifecycle(String action, Consumer<JsonNode> onStep) {
        return lifecycle(action, Optional.empty(), onStep);
    }

    /**
     * Like {@link #lifecycle(String, Consumer)} for one instance only, or all when {@code instance} is empty.
     * An unknown name is answered with {@code ok: false} and {@code validInstances}.
     */
    public JsonNode lifecycle(String action, Optional<String> instance, Consumer<JsonNode> onStep) {
        String query = instance.map(name -> "?instance=" + URLEncoder.encode(name, StandardCharsets.UTF_8)).orElse("");
        return steps("/manager/" + action + query, onStep);
    }

    /**
     * {@code POST path} answered with NDJSON: every {@code step} line goes to {@code onStep} as it arrives.
     *
     * @param path one of the daemon's own paths, with its query
     * @return the final result line
     */
    public JsonNode steps(String path, Consumer<JsonNode> onStep) {
        HttpURLConnection connection = open("POST", path, Duration.ZERO);
        connection.setRequestProperty("Accept", "application/x-ndjson");
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(responseBody(connection), StandardCharsets.UTF_8))) {
            JsonNode result = null;
            for (String line = lines.readLine(); line != null; line = lines.readLine()) {
                if (line.isBlank()) {
                    continue;
                }
                JsonNode node = JSON.readTree(line);
                if ("step".equals(node.path("type").asText())) {
                    onStep.accept(node);
                } else {
                    result = node;
                }
            }
            if (result == null) {
                throw new DaemonException("the daemon at " + info.baseUrl() + " closed the connection before answering "
                        + path + "; see its log with 'comfyctl logs --daemon'");
            }
            return result;
        } catch (IOException e) {
            throw unreachable(e);
        }
    }

    private HttpURLConnection open(String method, String path, Duration readTimeout) {
        try {
            HttpURLConnection connection = (HttpURLConnection) URI.create(info.baseUrl() + path).toURL().openConnection();
            connection.setRequestMethod(method);
            connection.setConnectTimeout((int) CONNECT_TIMEOUT.toMillis());
            connection.setReadTimeout((int) readTimeout.toMillis());
            token.ifPresent(t -> connection.setRequestProperty("Authorization", "Bearer " + t));
            if (method.equals("POST")) {
                connection.setDoOutput(true);
                connection.setFixedLengthStreamingMode(0);
            }
            return connection;
        } catch (IOException e) {
            throw unreachable(e);
        }
    }

    private InputStream responseBody(HttpURLConnection connection) throws IOException {
        int status = connection.getResponseCode();
        if (status == 401) {
            throw new DaemonException("the comfyctl daemon at " + info.baseUrl() + " refused the token: set MANAGER_TOKEN"
                    + " to the daemon's token, in the environment or config.env");
        }
        InputStream body = status >= 400 ? connection.getErrorStream() : connection.getInputStream();
        return body == null ? InputStream.nullInputStream() : body;
    }

    private DaemonException unreachable(IOException e) {
        return new DaemonException("cannot reach the comfyctl daemon (pid " + info.pid() + ") at " + info.baseUrl()
                + ": " + e.getMessage() + "; check it with 'comfyctl logs --daemon'", e);
    }
}
