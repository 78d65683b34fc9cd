package dev.comfyctl.telemetry;

import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SinceTest {
    private static final Instant NOW = Instant.parse("2026-11-25T14:30:00Z");
    private static final Clock BERLIN = Clock.fixed(NOW, ZoneId.of("Europe/Berlin"));

    @Test
    void anAgeCountsBackFromNow() {
        assertThat(Since.parse("1h", BERLIN)).isEqualTo(NOW.minus(Duration.ofHours(1)));
        assertThat(Since.parse("1h30m", BERLIN)).isEqualTo(NOW.minus(Duration.ofMinutes(90)));
        assertThat(Since.parse("2d", BERLIN)).isEqualTo(NOW.minus(Duration.ofDays(2)));
        assertThat(Since.parse("45s", BERLIN)).isEqualTo(NOW.minusSeconds(45));
    }

    @Test
    void aTimeWithoutAnOffsetIsInTheClocksZone() {
        assertThat(Since.parse("2026-11-25T10:00", BERLIN)).isEqualTo(Instant.parse("2026-11-25T09:00:00Z"));
        assertThat(Since.parse("2026-11-25 10:00:30", BERLIN)).isEqualTo(Instant.parse("2026-11-25T09:00:30Z"));
        assertThat(Since.parse("2026-11-25", BERLIN)).isEqualTo(Instant.parse("2026-11-24T23:00:00Z"));
        assertThat(Since.parse("2026-11-25T10:00Z", BERLIN)).isEqualTo(Instant.parse("2026-11-25T10:00:00Z"));
    }

    @Test
    void anythingElseIsRefusedWithWhatIsAccepted() {
        for (String bad : new String[] {"", "yesterday", "1x", "h", "2026-13-01", "99999999999999h"}) {
            assertThatThrownBy(() -> Since.parse(bad, BERLIN)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("1h30m").hasMessageContaining("2026-11-25T10:00");
        }
    }
}
