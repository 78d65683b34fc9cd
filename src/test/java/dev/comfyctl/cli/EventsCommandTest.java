package dev.comfyctl.cli;

import dev.comfyctl.events.EventType;
import dev.comfyctl.telemetry.EventLog;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** {@code comfyctl events} as a real process, reading the event log without a daemon. */
@Timeout(120)
class EventsCommandTest {
    @TempDir
    Path temp;

    private Path home;
    private static final DateTimeFormatter SHOWN = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss");
    private Comfyctl comfyctl;
    private Instant now;

    @BeforeEach
    void setUp() throws IOException {
        home = temp.resolve("state");
        Files.createDirectories(home);
        comfyctl = new Comfyctl(temp, Map.of("COMFYCTL_HOME", home.toString(), "TZ", "UTC"));
        now = Instant.now().truncatedTo(ChronoUnit.SECONDS);
        Files.writeString(home.resolve("events.jsonl"), line(now.minus(Duration.ofHours(3)), "comfyui_start", "start requested")
                + line(now.minus(Duration.ofMinutes(10)), "scheduled_restart", "next at 20:30")
                + "{\"at\":\"" + now + "\",\"type\":\"crash\",\"inst");
    }

    private static String line(Instant at, String type, String message) {
        return "{\"at\":\"" + at + "\",\"type\":\"" + type + "\",\"instance\":\"comfyui\",\"message\":\"" + message + "\"}\n";
    }

    /** As the command prints it, seconds always: LocalDateTime.toString() drops them when they are 0. */
    private static String shown(Instant at) {
        return SHOWN.format(at.atOffset(ZoneOffset.UTC));
    }

    @Test
    void eventsArePrintedAsReadableLinesAndACutShortLastLineIsOnlyAWarning() {
        Comfyctl.Result result = comfyctl.run("events");

        assertThat(result.exitCode()).as(result.err()).isZero();
        assertThat(result.out().lines()).containsExactly(
                shown(now.minus(Duration.ofHours(3))) + "  comfyui   comfyui_start      start requested",
                shown(now.minus(Duration.ofMinutes(10))) + "  comfyui   scheduled_restart  next at 20:30");
        assertThat(result.err()).contains("skipped 1 unreadable line");
    }

    @Test
    void sinceKeepsOnlyTheRecentEvents() {
        Comfyctl.Result lastHour = comfyctl.run("events", "--since", "1h");
        Comfyctl.Result json = comfyctl.run("events", "--since", shown(now.minus(Duration.ofHours(4))).replace(' ', 'T'), "--json", "-n", "1");

        assertThat(lastHour.exitCode()).as(lastHour.err()).isZero();
        assertThat(lastHour.out().lines()).singleElement().asString().contains("scheduled_restart", "next at 20:30");
        assertThat(json.out().lines()).singleElement().asString().startsWith("{\"at\":").contains("\"type\":\"scheduled_restart\"");
    }

    @Test
    void aBadSinceExitsWith2AndSaysWhatIsAccepted() {
        Comfyctl.Result result = comfyctl.run("events", "--since", "last tuesday");

        assertThat(result.exitCode()).isEqualTo(2);
        assertThat(result.err()).contains("--since", "'last tuesday'", "1h30m", "2026-11-25T10:00");
    }

    @Test
    void followPrintsNewEventsAcrossARotation() throws Exception {
        Process follower = comfyctl.spawn("events", "-f", "-n", "1");
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> Files.readString(temp.resolve("out.txt")).contains("next at 20:30"));
            try (EventLog log = EventLog.open(home, 400, Clock.systemUTC())) {
                for (int i = 0; i < 6; i++) {
                    String message = "woken by request " + i;
                    log.record(EventType.WAKE, "comfyui", message, Map.of());
                    await().atMost(Duration.ofSeconds(30)).until(() -> Files.readString(temp.resolve("out.txt")).contains(message));
                }
            }

            assertThat(home.resolve("events.jsonl.1")).exists();
            String out = Files.readString(temp.resolve("out.txt"));
            for (int i = 0; i < 6; i++) {
                assertThat(out).containsOnlyOnce("woken by request " + i);
            }
        } finally {
            follower.destroyForcibly().waitFor();
        }
    }
}
