package dev.comfyctl.telemetry;

import com.fasterxml.jackson.databind.JsonNode;
import dev.comfyctl.events.EventType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

@Timeout(60)
class WebhooksTest {
    private static final Webhooks.Retry FAST = new Webhooks.Retry(Duration.ofMillis(50), Duration.ofMillis(400), Duration.ofMinutes(5), 1000);
    private static final Set<EventType> ALL = EnumSet.allOf(EventType.class);

    @TempDir
    Path home;

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
    }

    private <T extends AutoCloseable> T opened(T closeable) {
        open.add(closeable);
        return closeable;
    }

    private EventLog logTo(List<URI> urls, Set<EventType> types) {
        Webhooks webhooks = opened(Webhooks.start(urls, types, FAST, Clock.systemUTC()));
        EventLog log = opened(EventLog.open(home, 1024 * 1024, Clock.systemUTC()));
        log.subscribe(webhooks::accept);
        return log;
    }

    @Test
    void aReceiverGetsEachEventAsTheLogLineWithTheMachineName() {
        Receiver receiver = opened(Receiver.start(() -> 200));
        EventLog log = logTo(List.of(receiver.url()), ALL);

        log.post(EventType.COMFYUI_READY, "comfyui", "ready in 3.2 s (pid 7)", Map.of("timeToReadyMs", 3200));

        await().atMost(Duration.ofSeconds(10)).until(() -> receiver.accepted().size() == 1);
        JsonNode body = receiver.accepted().get(0);
        assertThat(body.path("type").asText()).isEqualTo("comfyui_ready");
        assertThat(body.path("instance").asText()).isEqualTo("comfyui");
        assertThat(body.path("message").asText()).isEqualTo("ready in 3.2 s (pid 7)");
        assertThat(body.path("timeToReadyMs").asLong()).isEqualTo(3200);
        assertThat(body.path("at").asText()).isNotEmpty();
        assertThat(body.path("machine").asText()).isEqualTo(Webhooks.machineName()).isNotEmpty();
    }

    @Test
    void eventsAreRetriedWhileTheReceiverFailsAndArriveInOrder() {
        AtomicInteger failuresLeft = new AtomicInteger(4);
        Receiver receiver = opened(Receiver.start(() -> failuresLeft.getAndDecrement() > 0 ? 500 : 200));
        EventLog log = logTo(List.of(receiver.url()), ALL);

        IntStream.range(0, 5).forEach(i -> log.post(EventType.WAKE, "comfyui", "wake " + i, Map.of()));

        await().atMost(Duration.ofSeconds(20)).until(() -> receiver.accepted().size() == 5);
        assertThat(receiver.accepted()).extracting(node -> node.path("message").asText())
                .containsExactly("wake 0", "wake 1", "wake 2", "wake 3", "wake 4");
        assertThat(receiver.requests()).isEqualTo(9);
    }

    @Test
    void eventsReachAReceiverThatComesUpOnlyAfterTheyHappened() {
        Receiver placeholder = Receiver.start(() -> 200);
        int port = placeholder.port();
        URI url = placeholder.url();
        placeholder.close();
        EventLog log = logTo(List.of(url), ALL);

        log.record(EventType.CRASH, "comfyui", "exited with code 137", Map.of("exitCode", 137));
        log.record(EventType.COMFYUI_START, "comfyui", "restart after crash 1", Map.of());
        await().pollDelay(Duration.ofMillis(500)).until(() -> true);
        Receiver receiver = opened(Receiver.start(port, () -> 200));

        await().atMost(Duration.ofSeconds(20)).until(() -> receiver.accepted().size() == 2);
        assertThat(receiver.acceptedTypes()).containsExactly("crash", "comfyui_start");
    }

    @Test
    void onlyTheChosenTypesAreSent() {
        Receiver receiver = opened(Receiver.start(() -> 200));
        EventLog log = logTo(List.of(receiver.url()), EnumSet.of(EventType.CRASH, EventType.HANG));

        log.post(EventType.COMFYUI_START, "comfyui", "start requested", Map.of());
        log.post(EventType.CRASH, "comfyui", "exited with code 1", Map.of());
        log.post(EventType.IDLE_STOP, "comfyui", "idle for 300 s", Map.of());
        log.post(EventType.HANG, "comfyui", "health check failed 3 times", Map.of());
        log.post(EventType.DAEMON_STOP, "comfyctl", "stopped", Map.of());

        await().atMost(Duration.ofSeconds(10)).until(() -> receiver.accepted().size() == 2);
        log.close();
        assertThat(receiver.acceptedTypes()).containsExactly("crash", "hang");
    }

    @Test
    void aReceiverThatDoesNotAnswerHoldsUpNeitherTheEventLogNorAnotherReceiver() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        Receiver stuck = opened(Receiver.start(() -> {
            try {
                release.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return 200;
        }));
        Receiver healthy = opened(Receiver.start(() -> 200));
        EventLog log = logTo(List.of(stuck.url(), healthy.url()), ALL);

        for (int i = 0; i < 10; i++) {
            log.record(EventType.WAKE, "comfyui", "wake " + i, Map.of());
        }

        assertThat(Files.readAllLines(home.resolve("events.jsonl"))).hasSize(10);
        await().atMost(Duration.ofSeconds(10)).until(() -> healthy.accepted().size() == 10);
        assertThat(stuck.accepted()).isEmpty();
        release.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> stuck.accepted().size() == 10);
    }

    @Test
    void whenAReceiverIsBehindTooFarTheOldestWaitingEventsAreDropped() {
        AtomicInteger status = new AtomicInteger(503);
        Receiver receiver = opened(Receiver.start(status::get));
        Webhooks webhooks = opened(Webhooks.start(List.of(receiver.url()), ALL,
                new Webhooks.Retry(Duration.ofMillis(50), Duration.ofMillis(100), Duration.ofMinutes(5), 3), Clock.systemUTC()));
        EventLog log = opened(EventLog.open(home, 1024 * 1024, Clock.systemUTC()));
        log.subscribe(webhooks::accept);

        log.record(EventType.WAKE, "comfyui", "wake 0", Map.of());
        await().atMost(Duration.ofSeconds(10)).until(() -> receiver.requests() >= 1);
        IntStream.range(1, 8).forEach(i -> log.record(EventType.WAKE, "comfyui", "wake " + i, Map.of()));
        status.set(200);

        await().atMost(Duration.ofSeconds(10)).until(() -> receiver.acceptedTypes().size() == 4);
        assertThat(receiver.accepted()).extracting(node -> node.path("message").asText())
                .containsExactly("wake 0", "wake 5", "wake 6", "wake 7");
    }
}
