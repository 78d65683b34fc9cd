package dev.comfyctl.comfy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.FakeProcess;
import dev.comfyctl.testing.Ports;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The one wait for ComfyUI's queue that scheduled restarts and updates share, against the fake ComfyUI. */
@Timeout(60)
class QueueDrainTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration POLL = Duration.ofMillis(50);

    @TempDir
    Path tmp;

    private FakeComfyUi fake;
    private FakeProcess running;
    private final List<QueueStatus> firstWaits = new CopyOnWriteArrayList<>();

    @BeforeEach
    void installFake() {
        fake = FakeComfyUi.install(tmp.resolve("ComfyUI"));
    }

    @AfterEach
    void killFake() {
        if (running != null) {
            running.close();
        }
    }

    @Test
    void anEmptyQueueIsNotWaitedFor() {
        ComfyClient client = launch();

        String outcome = drain(Duration.ofSeconds(30), "restarted").await(client, Instant.now().plus(Duration.ofSeconds(30)), () -> false, firstWaits::add);

        assertThat(outcome).isEqualTo("queue was empty");
        assertThat(firstWaits).isEmpty();
    }

    @Test
    void aRunningPromptIsWaitedForAndTheFirstWaitIsToldOnce() throws Exception {
        fake.behave(Map.of("prompt_seconds", 1.5));
        ComfyClient client = launch();
        submit(client);
        await().until(() -> !client.queue().isIdle());

        String outcome = drain(Duration.ofSeconds(30), "restarted").await(client, Instant.now().plus(Duration.ofSeconds(30)), () -> false, firstWaits::add);

        assertThat(outcome).matches("waited \\d+ s for the queue");
        assertThat(firstWaits).singleElement().satisfies(queue -> assertThat(queue.runningCount()).isEqualTo(1));
        assertThat(client.queue().isIdle()).isTrue();
    }

    @Test
    void theDrainLimitEndsTheWaitSayingWhatWasLeftAndWhatWasDoneAnyway() throws Exception {
        fake.behave(Map.of("prompt_seconds", 60));
        ComfyClient client = launch();
        submit(client);
        submit(client);
        await().until(() -> client.queue().runningCount() == 1);

        String outcome = drain(Duration.ofMillis(300), "updated").await(client, Instant.now().plus(Duration.ofMillis(300)), () -> false, firstWaits::add);

        assertThat(outcome).isEqualTo("drain limit of 0 s reached with 1 running and 1 pending: updated anyway"
                + " (RESTART_DRAIN_MAX_SECONDS)");
    }

    @Test
    void aQueueThatCannotBeReadIsNotWaitedFor() {
        ComfyClient client = ComfyClient.create(URI.create("http://127.0.0.1:" + Ports.free()), Duration.ofSeconds(2));

        String outcome = drain(Duration.ofSeconds(30), "restarted").await(client, Instant.now().plus(Duration.ofSeconds(30)), () -> false, firstWaits::add);

        assertThat(outcome).startsWith("queue unreadable (").endsWith("), restarted without waiting");
        assertThat(firstWaits).isEmpty();
    }

    private static QueueDrain drain(Duration limit, String goneAhead) {
        return new QueueDrain(Clock.systemUTC(), POLL, limit, goneAhead);
    }

    private static void submit(ComfyClient client) throws Exception {
        JsonNode workflow = JSON.readTree("""
                {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
                 "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "drain"}}}""");
        client.submit(workflow, null);
    }

    private ComfyClient launch() {
        running = fake.launch(Ports.free());
        return ComfyClient.create(running.baseUri(), Duration.ofSeconds(10));
    }
}
