package dev.comfyctl.supervisor;

import dev.comfyctl.comfy.ComfyClient;
import dev.comfyctl.events.EventType;
import dev.comfyctl.events.Events;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Self-healing for the failure a crash restart cannot see: ComfyUI alive but no longer answering. When the
 * health check ({@code GET /system_stats}) of a READY instance fails a number of times in a row, it is
 * restarted (SIGTERM, SIGKILL after the grace period, start). The hang is recorded as an event before the restart.
 */
public final class HangWatchdog implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HangWatchdog.class);

    private final ComfyInstance instance;
    private final ComfyClient client;
    private final Duration interval;
    private final int failuresAllowed;
    private final Events events;
    private final ScheduledExecutorService timer;
    private final AtomicLong hangRestarts = new AtomicLong();
    private int failuresInARow;

    public HangWatchdog(ComfyInstance instance, ComfyClient client, Duration interval, int failuresAllowed, Events events) {
        this.instance = instance;
        this.client = client;
        this.interval = interval;
        this.failuresAllowed = failuresAllowed;
        this.events = events;
        this.timer = Executors.newSingleThreadScheduledExecutor(runnable -> {
            Thread thread = new Thread(runnable, instance.name() + "-watchdog");
            thread.setDaemon(true);
            return thread;
        });
    }

    /** Checks every interval from now on; an interval of zero turns hang detection off. */
    public HangWatchdog start() {
        if (!interval.isZero()) {
            timer.scheduleWithFixedDelay(this::check, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
        }
        return this;
    }

    public long hangRestarts() {
        return hangRestarts.get();
    }

    private void check() {
        try {
            if (instance.state() != InstanceState.READY) {
                failuresInARow = 0;
                return;
            }
            if (client.isReady()) {
                failuresInARow = 0;
                return;
            }
            failuresInARow++;
            log.warn("{}: health check failed ({} of {} in a row)", instance.name(), failuresInARow, failuresAllowed);
            if (failuresInARow >= failuresAllowed) {
                failuresInARow = 0;
                hangRestarts.incrementAndGet();
                String reason = "hung: /system_stats failed " + failuresAllowed + " times in a row, "
                        + interval.toSeconds() + " s apart, while the process lived";
                events.record(EventType.HANG, instance.name(), reason,
                        Map.of("failures", failuresAllowed, "intervalSeconds", interval.toSeconds()));
                instance.restart(reason, event -> { }).join();
            }
        } catch (RuntimeException e) {
            log.warn("{}: restarting a hung ComfyUI failed: {}", instance.name(), e.toString());
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
