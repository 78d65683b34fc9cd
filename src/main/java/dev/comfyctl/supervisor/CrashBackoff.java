package dev.comfyctl.supervisor;

import java.time.Duration;

/** Exponential wait between crash restarts: initial, 2 x initial, 4 x initial, ... capped at max. */
record CrashBackoff(Duration initial, Duration max) {

    /** The wait before the restart that follows crash number {@code crash} (1-based). */
    Duration delayAfter(int crash) {
        if (initial.isZero()) {
            return Duration.ZERO;
        }
        int doublings = Math.min(crash - 1, 30);
        Duration delay = initial.multipliedBy(1L << doublings);
        return delay.compareTo(max) > 0 ? max : delay;
    }
}
