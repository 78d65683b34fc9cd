package dev.comfyctl.telemetry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.events.Event;
import dev.comfyctl.events.EventType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;

class EventLogTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MB = 1024 * 1024;

    @TempDir
    Path home;

    private List<EventType> types(EventFile.Read read) {
        return read.events().stream().map(Event::type).toList();
    }

    @Test
    void aRecordedEventIsOneJsonLineOnDiskWhenRecordReturns() throws Exception {
        try (EventLog log = EventLog.open(home, 10 * MB, Clock.systemUTC())) {
            log.record(EventType.FORCED_KILL, "comfyui", "SIGKILL to [42]", Map.of("pids", List.of(42L), "graceSeconds", 10));

            List<String> lines = Files.readAllLines(home.resolve("events.jsonl"));
            assertThat(lines).hasSize(1);
            JsonNode line = JSON.readTree(lines.get(0));
            assertThat(line.path("type").asText()).isEqualTo("forced_kill");
            assertThat(line.path("instance").asText()).isEqualTo("comfyui");
            assertThat(line.path("message").asText()).isEqualTo("SIGKILL to [42]");
            assertThat(line.path("pids").get(0).asLong()).isEqualTo(42);
            assertThat(Instant.parse(line.path("at").asText())).isBeforeOrEqualTo(Instant.now());
            assertThat(List.of(line.fieldNames().next())).containsExactly("at");
        }
    }

    @Test
    void postedEventsAreWrittenInTheOrderTheyWerePosted() {
        try (EventLog log = EventLog.open(home, 10 * MB, Clock.systemUTC())) {
            IntStream.range(0, 200).forEach(i -> log.post(EventType.WAKE, "comfyui", "wake " + i, Map.of("n", i)));
        }

        EventFile.Read read = EventFile.read(home, Instant.EPOCH, Integer.MAX_VALUE);

        assertThat(read.events()).extracting(Event::message)
                .containsExactlyElementsOf(IntStream.range(0, 200).mapToObj(i -> "wake " + i).toList());
        assertThat(read.skipped()).isZero();
    }

    @Test
    void aTruncatedLastLineIsSkippedAndCountedAndTheNextEventStartsOnANewLine() throws Exception {
        try (EventLog log = EventLog.open(home, 10 * MB, Clock.systemUTC())) {
            log.record(EventType.COMFYUI_START, "comfyui", "start requested", Map.of());
            log.record(EventType.COMFYUI_READY, "comfyui", "ready in 1.0 s", Map.of("timeToReadyMs", 1000));
        }
        String whole = Files.readString(home.resolve("events.jsonl"));
        String halfALine = whole.lines().toList().get(1).substring(0, 30);
        Files.writeString(home.resolve("events.jsonl"), halfALine, StandardOpenOption.APPEND);

        EventFile.Read afterCrash = EventFile.read(home, Instant.EPOCH, Integer.MAX_VALUE);
        try (EventLog log = EventLog.open(home, 10 * MB, Clock.systemUTC())) {
            log.record(EventType.DAEMON_START, Event.DAEMON, "started again", Map.of());
        }
        EventFile.Read afterRestart = EventFile.read(home, Instant.EPOCH, Integer.MAX_VALUE);

        assertThat(types(afterCrash)).containsExactly(EventType.COMFYUI_START, EventType.COMFYUI_READY);
        assertThat(afterCrash.skipped()).isEqualTo(1);
        assertThat(types(afterRestart)).containsExactly(EventType.COMFYUI_START, EventType.COMFYUI_READY, EventType.DAEMON_START);
        assertThat(afterRestart.skipped()).isEqualTo(1);
    }

    @Test
    void damagedLinesAndBytesThatAreNotUtf8NeverFailAReadingOnlyCountAsSkipped() throws Exception {
        Files.write(home.resolve("events.jsonl"), new byte[] {'{', '"', (byte) 0xC3, '\n', 'x', '\n'});
        Files.writeString(home.resolve("events.jsonl"), "{\"at\":\"2026-11-25T14:30:00Z\",\"type\":\"wake\",\"instance\":\"comfyui\","
                + "\"message\":\"woken\"}\n{\"at\":\"yesterday\",\"type\":\"wake\"}\n{\"at\":\"2026-11-25T14:30:00Z\",\"type\":\"unknown\"}\n",
                StandardCharsets.UTF_8, StandardOpenOption.APPEND);

        EventFile.Read read = EventFile.read(home, Instant.EPOCH, 10);

        assertThat(read.events()).extracting(Event::message).containsExactly("woken");
        assertThat(read.skipped()).isEqualTo(4);
    }

    @Test
    void theLogIsRotatedPastItsSizeKeepingOneOlderGeneration() throws Exception {
        long max = 1000;
        try (EventLog log = EventLog.open(home, max, Clock.systemUTC())) {
            for (int i = 0; i < 40; i++) {
                log.record(EventType.WAKE, "comfyui", "wake number " + i, Map.of("n", i));
            }
        }

        assertThat(Files.size(home.resolve("events.jsonl"))).isLessThanOrEqualTo(max);
        assertThat(Files.size(home.resolve("events.jsonl.1"))).isLessThanOrEqualTo(max);
        assertThat(home.resolve("events.jsonl.2")).doesNotExist();
        List<Event> kept = EventFile.read(home, Instant.EPOCH, Integer.MAX_VALUE).events();
        assertThat(kept).isNotEmpty();
        assertThat(kept.get(kept.size() - 1).message()).isEqualTo("wake number 39");
        assertThat(kept).extracting(e -> ((Number) e.fields().get("n")).intValue()).isSorted();
        assertThat(kept.size()).isLessThan(40);
    }

    @Test
    void readingKeepsTheLastEventsSinceTheGivenTime() {
        Instant now = Instant.parse("2026-11-25T14:30:00Z");
        try (EventLog early = EventLog.open(home, 10 * MB, Clock.fixed(now.minusSeconds(7200), ZoneOffset.UTC))) {
            early.record(EventType.COMFYUI_START, "comfyui", "two hours ago", Map.of());
        }
        try (EventLog late = EventLog.open(home, 10 * MB, Clock.fixed(now.minusSeconds(600), ZoneOffset.UTC))) {
            IntStream.range(0, 5).forEach(i -> late.record(EventType.WAKE, "comfyui", "recent " + i, Map.of()));
        }

        Instant anHourAgo = Since.parse("1h", Clock.fixed(now, ZoneOffset.UTC));

        assertThat(EventFile.read(home, anHourAgo, Integer.MAX_VALUE).events()).hasSize(5);
        assertThat(EventFile.read(home, anHourAgo, 2).events()).extracting(Event::message).containsExactly("recent 3", "recent 4");
        assertThat(EventFile.read(home, Instant.EPOCH, Integer.MAX_VALUE).events()).hasSize(6);
    }

    @Test
    void anEventAfterCloseIsNotWrittenAndDoesNotThrow() {
        EventLog log = EventLog.open(home, 10 * MB, Clock.systemUTC());
        log.close();

        log.record(EventType.WAKE, "comfyui", "too late", Map.of());
        log.close();

        assertThat(EventFile.read(home, Instant.EPOCH, 10).events()).isEmpty();
    }
}
