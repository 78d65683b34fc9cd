package dev.comfyctl.telemetry;

import dev.comfyctl.events.Event;
import dev.comfyctl.events.EventType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Sends events to the configured webhook URLs as JSON POSTs: the event log's line plus {@code machine}, the
 * host name. {@link #accept} only queues, so neither the event log nor the supervisor ever waits for a receiver;
 * each URL gets its events in order and retries on its own ({@link WebhookTarget}), so one slow or dead receiver
 * does not hold up another. Failures are logged, never thrown.
 */
public final class Webhooks implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Webhooks.class);
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(3);
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);

    /**
     * How failed deliveries are retried.
     *
     * @param first      wait after the first failure, doubled after each further one
     * @param max        longest wait between attempts
     * @param maxAge     an event still undelivered this long after it happened is dropped: a receiver that was
     *                   down for longer gets fresh news, not a stale flood (the event log keeps everything)
     * @param queueLimit events kept per URL while it fails; past it the oldest waiting one is dropped
     */
    public record Retry(Duration first, Duration max, Duration maxAge, int queueLimit) {
        /** 1 s, 2 s, 4 s ... at most a minute apart, for up to an hour, 1000 events per URL. */
        public static final Retry DEFAULT = new Retry(Duration.ofSeconds(1), Duration.ofMinutes(1), Duration.ofHours(1), 1000);

        public Retry {
            if (first.isNegative() || first.isZero()) {
                throw new IllegalArgumentException("first " + first + " <= 0");
            }
            if (queueLimit < 1) {
                throw new IllegalArgumentException("queueLimit " + queueLimit + " < 1");
            }
        }
    }

    private final Set<EventType> types;
    private final String machine;
    private final List<WebhookTarget> targets;
    private final ScheduledExecutorService thread;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Webhooks(List<URI> urls, Set<EventType> types, String machine, Retry retry, Clock clock) {
        this.types = Set.copyOf(types);
        this.machine = machine;
        this.thread = Executors.newSingleThreadScheduledExecutor(runnable -> {
            Thread t = new Thread(runnable, "webhooks");
            t.setDaemon(true);
            return t;
        });
        this.targets = urls.isEmpty() ? List.of() : targets(urls, thread, retry, clock);
    }

    /**
     * One client for every URL. Only built when there is a URL: building one loads the default TLS context and
     * parses the CA store, 400 classes and a few megabytes that a daemon without webhooks would carry for nothing.
     */
    private static List<WebhookTarget> targets(List<URI> urls, ScheduledExecutorService thread, Retry retry, Clock clock) {
        HttpClient client = HttpClient.newBuilder().connectTimeout(CONNECT_TIMEOUT).build();
        return urls.stream().map(url -> new WebhookTarget(url, client, thread, retry, clock)).toList();
    }

    /** Webhooks to {@code urls} for events of {@code types}; with no URL it sends nothing and starts no thread. */
    public static Webhooks start(List<URI> urls, Set<EventType> types, Retry retry, Clock clock) {
        Webhooks webhooks = new Webhooks(urls, types, machineName(), retry, clock);
        if (!urls.isEmpty()) {
            log.info("Webhooks to {} for {}", urls.stream().map(WebhookTarget::label).toList(),
                    types.size() == EventType.values().length ? "every event" : types.stream().map(EventType::id).sorted().toList());
        }
        return webhooks;
    }

    /** Queues the event for every URL when its type is wanted; returns at once. */
    public void accept(Event event) {
        if (targets.isEmpty() || !types.contains(event.type()) || closed.get()) {
            return;
        }
        String body = EventJson.withMachine(event, machine);
        thread.execute(() -> targets.forEach(target -> target.enqueue(event, body)));
    }

    /** The host name as the kernel has it; webhooks from several machines are told apart by it. */
    static String machineName() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/hostname")).strip();
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** Gives queued events a few seconds to go out (the daemon_stop event, say), then stops; idempotent. */
    @Override
    public void close() {
        if (closed.getAndSet(true)) {
            return;
        }
        long deadline = System.nanoTime() + CLOSE_WAIT.toNanos();
        try {
            thread.submit(() -> { }).get(CLOSE_WAIT.toMillis(), TimeUnit.MILLISECONDS);
            while (undelivered() > 0 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            log.warn("The webhook thread did not answer within {} ms: {}", CLOSE_WAIT.toMillis(), e.toString());
        }
        if (undelivered() > 0) {
            log.warn("Timed-out waiting {} ms for webhooks: {} event(s) not delivered", CLOSE_WAIT.toMillis(), undelivered());
        }
        thread.shutdownNow();
    }

    private int undelivered() {
        return targets.stream().mapToInt(WebhookTarget::undelivered).sum();
    }
}
