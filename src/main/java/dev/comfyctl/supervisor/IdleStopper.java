package dev.comfyctl.supervisor;

import dev.comfyctl.comfy.ComfyClient;
import dev.comfyctl.comfy.QueueStatus;
import dev.comfyctl.events.EventType;
import dev.comfyctl.events.Events;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Puts the GPU to sleep: stops ComfyUI once nothing has happened for the idle timeout, checked every
 * interval. Activity is what the caller reports (user requests, WebSocket messages) plus becoming READY;
 * a prompt running or pending in ComfyUI's queue counts as activity too, so a generation is never cut.
 * A timeout of zero turns idle stops off. Each idle stop is recorded as an event before it is carried out.
 */
public final class IdleStopper implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(IdleStopper.class);

    private final ComfyInstance instance;
    private final ComfyClient client;
    private final Duration timeout;
    private final Duration checkInterval;
    private final Clock clock;
    private final Events events;
    private final AtomicLong lastActivityMillis;
    private final AtomicLong idleStops = new AtomicLong();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final ScheduledExecutorService timer;

    public IdleStopper(ComfyInstance instance, ComfyClient client, Duration timeout, Duration checkInterval, Clock clock,
                       Events events) {
        this.instance = instance;
        this.client = client;
        this.timeout = timeout;
        this.checkInterval = checkInterval;
        this.clock = clock;
        this.events = events;
        this.lastActivityMillis = new AtomicLong(clock.millis());
        this.timer = Executors.newSingleThreadScheduledExecutor(runnable -> {
            Thread thread = new Thread(runnable, instance.name() + "-idle");
            thread.setDaemon(true);
            return thread;
        });
        instance.addListener((name, from, to, reason) -> {
            if (to == InstanceState.READY) {
                activity();
            }
        });
    }

    /** Checks every interval from now on; does nothing when the timeout is zero. */
    public IdleStopper start() {
        if (enabled()) {
            timer.scheduleWithFixedDelay(this::check, checkInterval.toMillis(), checkInterval.toMillis(), TimeUnit.MILLISECONDS);
            log.info("{}: idle stop after {} s without activity, checked every {} s", instance.name(),
                    timeout.toSeconds(), checkInterval.toSeconds());
        }
        return this;
    }

    public boolean enabled() {
        return !timeout.isZero();
    }

    public Duration timeout() {
        return timeout;
    }

    /** Something happened that a person or a client did: the idle clock starts again. */
    public void activity() {
        lastActivityMillis.set(clock.millis());
    }

    public Instant lastActivity() {
        return Instant.ofEpochMilli(lastActivityMillis.get());
    }

    /** How long until an idle stop, if ComfyUI is READY and idle stops are on. */
    public Optional<Duration> remaining() {
        if (!enabled() || instance.state() != InstanceState.READY) {
            return Optional.empty();
        }
        Duration left = timeout.minus(idleFor());
        return Optional.of(left.isNegative() ? Duration.ZERO : left);
    }

    public long idleStops() {
        return idleStops.get();
    }

    private Duration idleFor() {
        return Duration.ofMillis(clock.millis() - lastActivityMillis.get());
    }

    private void check() {
        try {
            if (instance.state() != InstanceState.READY || idleFor().compareTo(timeout) < 0) {
                return;
            }
            QueueStatus queue = client.queue();
            if (!queue.isIdle()) {
                log.debug("{}: idle timeout reached but {} prompt(s) running, {} pending: not stopping",
                        instance.name(), queue.runningCount(), queue.pendingCount());
                activity();
                return;
            }
            long idleSeconds = idleFor().toSeconds();
            String reason = "idle for " + idleSeconds + " s (IDLE_TIMEOUT_SECONDS=" + timeout.toSeconds() + ")";
            boolean stopped = instance.stopIf(() -> {
                if (idleFor().compareTo(timeout) < 0) {
                    return false;
                }
                events.record(EventType.IDLE_STOP, instance.name(), reason,
                        Map.of("idleSeconds", idleSeconds, "timeoutSeconds", timeout.toSeconds()));
                return true;
            }, reason).join();
            if (stopped) {
                idleStops.incrementAndGet();
            }
        } catch (RuntimeException e) {
            log.warn("{}: idle check failed, ComfyUI keeps running: {}", instance.name(), e.toString());
        }
    }

    @Override
    public void close() {
        if (closed.getAndSet(true)) {
            return;
        }
        timer.shutdownNow();
    }
}
