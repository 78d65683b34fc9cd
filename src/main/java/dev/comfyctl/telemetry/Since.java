package dev.comfyctl.telemetry;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The start of a time window given as an age ({@code 90s}, {@code 15m}, {@code 1h30m}, {@code 2d}) or a
 * point in time ({@code 2026-11-25}, {@code 2026-11-25T10:00}, {@code 2026-11-25 10:00:00}, with or without
 * an offset; without one it is the clock's time zone).
 */
public final class Since {
    private static final Pattern AGE = Pattern.compile("(?:(\\d{1,6})d)?(?:(\\d{1,7})h)?(?:(\\d{1,9})m)?(?:(\\d{1,9})s)?");

    private Since() {
    }

    /** @throws IllegalArgumentException whose message says what is accepted */
    public static Instant parse(String text, Clock clock) {
        String value = text.strip().replace(' ', 'T');
        Matcher age = AGE.matcher(value);
        if (!value.isEmpty() && age.matches()) {
            Duration duration = Duration.ofDays(number(age.group(1))).plusHours(number(age.group(2)))
                    .plusMinutes(number(age.group(3))).plusSeconds(number(age.group(4)));
            return clock.instant().minus(duration);
        }
        try {
            return OffsetDateTime.parse(value).toInstant();
        } catch (DateTimeParseException notWithOffset) {
            try {
                return LocalDateTime.parse(value).atZone(clock.getZone()).toInstant();
            } catch (DateTimeParseException notDateTime) {
                try {
                    return LocalDate.parse(value).atStartOfDay(clock.getZone()).toInstant();
                } catch (DateTimeParseException notDate) {
                    throw new IllegalArgumentException("'" + text + "' is neither an age such as 30m, 1h, 1h30m or 2d"
                            + " nor a time such as 2026-11-25T10:00 or 2026-11-25");
                }
            }
        }
    }

    private static long number(String digits) {
        return digits == null ? 0 : Long.parseLong(digits);
    }
}
