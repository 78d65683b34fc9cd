package dev.comfyctl.telemetry;

import dev.comfyctl.events.Event;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One webhook URL: its events are sent one at a time, in order, each retried with exponential backoff until
 * it is delivered, refused for good (a 4xx other than 408 and 429), or older than the retry policy's maximum age.
 * Its state is only touched on the shared webhook thread, so it needs no locks.
 *
 * <p>The URL may carry a token, so logs name it by scheme, host and port only ({@link #label}).
 */
final class WebhookTarget {
    private static final Logger log = LoggerFactory.getLogger(WebhookTarget.class);
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(10);

    private record Pending(Event event, String body) {
    }

    private final URI url;
    private final String label;
    private final HttpClient client;
    private final ScheduledExecutorService thread;
    private final Webhooks.Retry retry;
    private final Clock clock;
    private final Deque<Pending> queue = new ArrayDeque<>();
    private final AtomicInteger undelivered = new AtomicInteger();
    private Pending current;
    private int attempts;

    WebhookTarget(URI url, HttpClient client, ScheduledExecutorService thread, Webhooks.Retry retry, Clock clock) {
        this.url = url;
        this.label = label(url);
        this.client = client;
        this.thread = thread;
        this.retry = retry;
        this.clock = clock;
    }

    /** {@code scheme://host[:port]}: enough to tell receivers apart, never a path or query that may hold a token. */
    static String label(URI url) {
        return url.getScheme() + "://" + url.getHost() + (url.getPort() == -1 ? "" : ":" + url.getPort());
    }

    /** Events queued or being sent; readable from any thread. */
    int undelivered() {
        return undelivered.get();
    }

    /** On the webhook thread. */
    void enqueue(Event event, String body) {
        if (queue.size() >= retry.queueLimit()) {
            Pending dropped = queue.removeFirst();
            undelivered.decrementAndGet();
            log.warn("Webhook {} is behind by {} events: dropping the oldest waiting one, {} of {}", label,
                    retry.queueLimit(), dropped.event().type().id(), dropped.event().at());
        }
        queue.addLast(new Pending(event, body));
        undelivered.incrementAndGet();
        sendNext();
    }

    private void sendNext() {
        if (current != null) {
            return;
        }
        current = queue.pollFirst();
        attempts = 0;
        if (current != null) {
            send();
        }
    }

    private void send() {
        HttpRequest request = HttpRequest.newBuilder(url).timeout(REQUEST_TIMEOUT)
                .header("Content-Type", "application/json")
                .header("User-Agent", "comfyctl")
                .POST(HttpRequest.BodyPublishers.ofString(current.body())).build();
        client.sendAsync(request, HttpResponse.BodyHandlers.discarding())
                .whenComplete((response, failure) -> thread.execute(() -> completed(response, failure)));
    }

    private void completed(HttpResponse<Void> response, Throwable failure) {
        attempts++;
        if (failure == null && response.statusCode() / 100 == 2) {
            if (attempts > 1) {
                log.info("Webhook {} delivered {} after {} attempts", label, current.event().type().id(), attempts);
            }
            done();
            return;
        }
        String why = failure != null ? describe(failure) : "HTTP " + response.statusCode();
        if (failure == null && refusedForGood(response.statusCode())) {
            log.warn("Webhook {} refused {} ({}); not retried", label, current.event().type().id(), why);
            done();
            return;
        }
        Duration age = Duration.between(current.event().at(), clock.instant());
        if (age.compareTo(retry.maxAge()) > 0) {
            log.warn("Webhook {} failed {} times ({}); giving up on {} of {} after {} s", label, attempts, why,
                    current.event().type().id(), current.event().at(), age.toSeconds());
            done();
            return;
        }
        Duration delay = backoff();
        if (attempts == 1) {
            log.warn("Webhook {} failed ({}) on {}; retrying with backoff", label, why, current.event().type().id());
        } else {
            log.debug("Webhook {} failed again ({}), attempt {}; next in {} ms", label, why, attempts, delay.toMillis());
        }
        thread.schedule(this::send, delay.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void done() {
        current = null;
        undelivered.decrementAndGet();
        sendNext();
    }

    private Duration backoff() {
        Duration delay = retry.first().multipliedBy(1L << Math.min(attempts - 1, 20));
        return delay.compareTo(retry.max()) > 0 ? retry.max() : delay;
    }

    /** A client error other than a timeout or a rate limit: sending the same body again cannot help. */
    private static boolean refusedForGood(int status) {
        return status / 100 == 4 && status != 408 && status != 429;
    }

    private String describe(Throwable failure) {
        Throwable cause = failure.getCause() != null ? failure.getCause() : failure;
        String message = cause.getMessage() == null ? "" : ": " + cause.getMessage().replace(url.toString(), label);
        return cause.getClass().getSimpleName() + message;
    }
}
