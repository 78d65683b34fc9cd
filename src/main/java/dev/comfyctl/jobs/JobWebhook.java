package dev.comfyctl.jobs;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Calls a job's own webhook when it finishes: a JSON POST of the job, retried a few times with backoff, never
 * waited for. A receiver that is down longer loses the call; {@code GET /jobs/{id}} still has the result.
 */
final class JobWebhook {
    private static final Logger log = LoggerFactory.getLogger(JobWebhook.class);
    private static final int ATTEMPTS = 4;
    private static final Duration FIRST_RETRY = Duration.ofSeconds(1);

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    void finished(Job job) {
        job.spec().webhook().ifPresent(url -> send(URI.create(url), JobView.of(job).toString(), 1));
    }

    private void send(URI url, String body, int attempt) {
        HttpRequest request = HttpRequest.newBuilder(url).timeout(Duration.ofSeconds(10)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        http.sendAsync(request, HttpResponse.BodyHandlers.discarding()).whenComplete((response, failure) -> {
            boolean ok = failure == null && response.statusCode() / 100 == 2;
            if (ok) {
                return;
            }
            String why = failure != null ? failure.toString() : "answered " + response.statusCode();
            if (attempt >= ATTEMPTS) {
                log.warn("job webhook {} failed {} times, giving up: {}", url, attempt, why);
                return;
            }
            long delay = FIRST_RETRY.toMillis() << (attempt - 1);
            CompletableFuture.delayedExecutor(delay, TimeUnit.MILLISECONDS).execute(() -> send(url, body, attempt + 1));
        });
    }
}
