package dev.comfyctl.install;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

/**
 * The component discovery API of seed 004 ({@code EMPROPS_API_URL}): {@code GET /custom-nodes/defaults} always,
 * then {@code GET /workflows/dependencies?workflows=a,b} when workflows are named, then
 * {@code GET /collections/dependencies?collections=c} when collections are, merged in that order without duplicates.
 * Each answer is an object with {@code custom_nodes} and {@code models} lists (possibly inside {@code data}),
 * or a plain list of custom nodes.
 */
public final class DiscoveryClient {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private final URI base;
    private final HttpClient http;

    /** @throws ManifestException when {@code baseUrl} is not an http(s) URL */
    public DiscoveryClient(String baseUrl) {
        URI parsed;
        try {
            parsed = URI.create(baseUrl.endsWith("/") ? baseUrl : baseUrl + "/");
        } catch (IllegalArgumentException e) {
            throw new ManifestException("EMPROPS_API_URL '" + baseUrl + "' is not a URL; give the API's base URL, e.g. http://api.example.com");
        }
        if (parsed.getScheme() == null || !parsed.getScheme().matches("(?i)https?") || parsed.getHost() == null) {
            throw new ManifestException("EMPROPS_API_URL '" + baseUrl + "' is not an http:// or https:// URL;"
                    + " give the API's base URL, e.g. http://api.example.com");
        }
        this.base = parsed;
        this.http = HttpClient.newBuilder().connectTimeout(TIMEOUT).followRedirects(HttpClient.Redirect.NORMAL).build();
    }

    /**
     * @throws DiscoveryException when the API cannot be reached or answers an error
     * @throws ManifestException  when it answers something that is not a manifest
     */
    public Manifest discover(List<String> workflows, List<String> collections) {
        Manifest manifest = call("custom-nodes/defaults");
        if (!workflows.isEmpty()) {
            manifest = manifest.merge(call("workflows/dependencies?workflows=" + joined(workflows)));
        }
        if (!collections.isEmpty()) {
            manifest = manifest.merge(call("collections/dependencies?collections=" + joined(collections)));
        }
        return manifest;
    }

    public URI base() {
        return base;
    }

    private Manifest call(String path) {
        URI uri = base.resolve(path);
        String call = "GET " + uri;
        HttpResponse<String> response;
        try {
            response = http.send(HttpRequest.newBuilder(uri).timeout(TIMEOUT).header("Accept", "application/json").build(),
                    HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new DiscoveryException(call + " failed: " + (e.getMessage() == null ? e.toString() : e.getMessage())
                    + "; check EMPROPS_API_URL and that the API is reachable from this machine");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DiscoveryException(call + " was interrupted");
        }
        if (response.statusCode() != 200) {
            throw new DiscoveryException(call + " answered HTTP " + response.statusCode() + ": "
                    + abbreviate(response.body()) + "; check EMPROPS_API_URL and the workflow and collection names");
        }
        JsonNode answer;
        try {
            answer = ManifestReader.JSON.readTree(response.body());
        } catch (IOException e) {
            throw new ManifestException(call + " answered something that is not JSON: " + abbreviate(response.body()));
        }
        return ManifestReader.readApiAnswer(call, answer);
    }

    private static String joined(List<String> names) {
        return URLEncoder.encode(String.join(",", names), StandardCharsets.UTF_8);
    }

    private static String abbreviate(String body) {
        String line = body.strip().replaceAll("\\s+", " ");
        return line.length() > 200 ? line.substring(0, 200) + "..." : line;
    }

    /** The API could not be reached or answered an error: a cached manifest may stand in. */
    public static final class DiscoveryException extends RuntimeException {
        DiscoveryException(String message) {
            super(message);
        }
    }
}
