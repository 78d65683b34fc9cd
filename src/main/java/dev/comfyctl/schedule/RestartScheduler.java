package dev.comfyctl.schedule;

import dev.comfyctl.comfy.ComfyClient;
import dev.comfyctl.comfy.QueueDrain;
import dev.comfyctl.events.EventType;
import dev.comfyctl.events.Events;
import dev.comfyctl.gpu.GpuDetector;
import dev.comfyctl.gpu.GpuProcess;
import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.supervisor.InstanceState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Restarts ComfyUI every interval, because it leaks memory over hours, without cutting a generation: a
 * due restart first waits for ComfyUI's queue to empty (up to the drain limit), asks ComfyUI to unload its
 * models ({@code POST /free}), restarts, then checks through nvidia-smi that the old process let go of its
 * VRAM. A ComfyUI that sleeps (stopped when idle) is not woken for it: that restart is skipped and the next
 * one scheduled. On/off and the next time survive a daemon restart. Each restart (or skip) is recorded as a
 * {@code scheduled_restart} event before it happens, and a wait for the queue as {@code drain_wait}. With several
 * instances, one schedule restarts them one after another, so the others keep serving meanwhile.
 */
public final class RestartScheduler implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RestartScheduler.class);
    private static final Duration TICK = Duration.ofMillis(500);
    private static final Duration DRAIN_POLL = Duration.ofMillis(500);

    /** What {@code comfyctl schedule status} shows. */
    public record Status(boolean enabled, Duration interval, Optional<Instant> nextRestart, boolean restarting,
                         Optional<Instant> lastRestart, Optional<String> lastOutcome) {
    }

    /** One instance the schedule restarts, and the client of its ComfyUI. */
    private record Target(ComfyInstance instance, ComfyClient client) {
    }

    private final List<Target> targets;
    /** What the log lines about the schedule itself name: the instance, or the group. */
    private final String name;
    private final GpuDetector gpus;
    private final ScheduleStore store;
    private final Duration interval;
    private final Duration drainMax;
    private final Clock clock;
    private final Events events;
    private final ScheduledExecutorService worker;

    private volatile boolean enabled;
    private volatile Instant nextRestart;
    private volatile boolean restarting;
    /** The instance the running cycle is draining or restarting, null between them. */
    private volatile ComfyInstance inCycle;
    private volatile Instant lastRestart;
    private volatile String lastOutcome;

    public RestartScheduler(ComfyInstance instance, ComfyClient client, GpuDetector gpus, Path home, Duration interval,
                            Duration drainMax, boolean disabledByConfig, Clock clock, Events events) {
        this(gpus, home, interval, drainMax, disabledByConfig, clock, events, List.of(new Target(instance, client)));
    }

    /**
     * One schedule for several instances: a due restart restarts them one after another, each drained first,
     * so the others keep serving and the machine never goes dark as a whole.
     */
    public RestartScheduler(List<ComfyInstance> instances, GpuDetector gpus, Path home, Duration interval,
                            Duration drainMax, boolean disabledByConfig, Clock clock, Events events) {
        this(gpus, home, interval, drainMax, disabledByConfig, clock, events,
                instances.stream().map(i -> new Target(i, i.spec().client())).toList());
    }

    private RestartScheduler(GpuDetector gpus, Path home, Duration interval, Duration drainMax, boolean disabledByConfig,
                             Clock clock, Events events, List<Target> targets) {
        if (targets.isEmpty()) {
            throw new IllegalArgumentException("no instance to restart");
        }
        this.targets = List.copyOf(targets);
        this.name = targets.size() == 1 ? targets.get(0).instance().name() : "instances";
        this.gpus = gpus;
        this.store = new ScheduleStore(home);
        this.interval = interval;
        this.drainMax = drainMax;
        this.clock = clock;
        this.events = events;
        this.worker = Executors.newSingleThreadScheduledExecutor(runnable -> {
            Thread thread = new Thread(runnable, name + "-schedule");
            thread.setDaemon(true);
            return thread;
        });
        Instant now = clock.instant();
        Optional<ScheduleStore.State> saved = store.load();
        this.enabled = saved.map(ScheduleStore.State::enabled).orElse(!disabledByConfig) && !interval.isZero();
        Instant due = saved.map(ScheduleStore.State::nextRestart).orElse(now.plus(interval));
        // A restart missed while the daemon was down is not made up: ComfyUI has just been started anyway.
        this.nextRestart = due.isBefore(now) ? now.plus(interval) : due;
    }

    public RestartScheduler start() {
        save();
        worker.scheduleWithFixedDelay(this::tick, TICK.toMillis(), TICK.toMillis(), TimeUnit.MILLISECONDS);
        log.info("{}: scheduled restarts {} (every {} s, next at {})", name, enabled ? "on" : "off",
                interval.toSeconds(), nextRestart);
        return this;
    }

    /**
     * Whether a restart cycle is draining or restarting {@code instance} right now: new prompts are better sent to
     * another instance.
     */
    public boolean isRestarting(ComfyInstance instance) {
        return inCycle == instance;
    }

    public Status status() {
        return new Status(enabled, interval, enabled ? Optional.of(nextRestart) : Optional.empty(), restarting,
                Optional.ofNullable(lastRestart), Optional.ofNullable(lastOutcome));
    }

    /**
     * @throws IllegalStateException when COMFYUI_RESTART_INTERVAL is 0, so there is nothing to schedule
     */
    public void enable() {
        if (interval.isZero()) {
            throw new IllegalStateException("COMFYUI_RESTART_INTERVAL is 0: set it to the seconds between restarts first");
        }
        enabled = true;
        nextRestart = clock.instant().plus(interval);
        save();
        log.info("{}: scheduled restarts on, next at {}", name, nextRestart);
    }

    public void disable() {
        enabled = false;
        save();
        log.info("{}: scheduled restarts off", name);
    }

    /** Restarts now, after draining the queue when asked to; completes with what happened. */
    public CompletableFuture<String> forceRestart(boolean waitForQueue) {
        return CompletableFuture.supplyAsync(() -> restartCycle(waitForQueue, "forced restart"), worker);
    }

    private void tick() {
        try {
            if (enabled && !clock.instant().isBefore(nextRestart)) {
                restartCycle(true, "scheduled restart");
            }
        } catch (RuntimeException e) {
            log.error("{}: unexpected failure in the restart schedule", name, e);
        }
    }

    private String restartCycle(boolean drain, String why) {
        restarting = true;
        try {
            List<String> outcomes = new ArrayList<>();
            for (Target target : targets) {
                String outcome;
                inCycle = target.instance();
                try {
                    outcome = restartIfRunning(target, drain, why);
                } catch (RuntimeException e) {
                    if (targets.size() == 1) {
                        throw e;
                    }
                    // One instance that fails to come back must not keep the others from their restart.
                    outcome = why + " FAILED: " + (e.getCause() != null ? e.getCause().getMessage() : e.getMessage());
                } finally {
                    inCycle = null;
                }
                log.info("{}: {}", target.instance().name(), outcome);
                outcomes.add(targets.size() == 1 ? outcome : target.instance().name() + ": " + outcome);
            }
            String outcome = String.join("; ", outcomes);
            lastRestart = clock.instant();
            lastOutcome = outcome;
            return outcome;
        } finally {
            nextRestart = clock.instant().plus(interval);
            save();
            restarting = false;
        }
    }

    private String restartIfRunning(Target target, boolean drain, String why) {
        ComfyInstance instance = target.instance();
        ComfyClient client = target.client();
        Instant next = clock.instant().plus(interval);
        if (instance.state() != InstanceState.READY) {
            String skipped = why + " skipped: ComfyUI is " + instance.state() + " (not woken for a restart)";
            events.post(EventType.SCHEDULED_RESTART, instance.name(), skipped + "; next at " + next,
                    Map.of("trigger", why, "skipped", true, "nextRestart", next));
            return skipped;
        }
        String drained = drain ? drain(instance, client) : "queue not drained";
        events.record(EventType.SCHEDULED_RESTART, instance.name(), why + " (" + drained + "); next at " + next,
                Map.of("trigger", why, "skipped", false, "drained", drained, "nextRestart", next));
        try {
            client.free(true, true);
        } catch (RuntimeException e) {
            log.warn("{}: POST /free before the restart failed: {}", instance.name(), e.getMessage());
        }
        OptionalLong oldPid = instance.snapshot().pid();
        instance.restart(why, event -> { }).join();
        return why + " done (" + drained + ")" + oldPid.stream().mapToObj(this::vramReleased).findFirst().orElse("");
    }

    /** Waits for running and pending prompts, polling ComfyUI's queue, up to the drain limit. */
    private String drain(ComfyInstance instance, ComfyClient client) {
        QueueDrain queueDrain = new QueueDrain(clock, DRAIN_POLL, drainMax, "restarted");
        return queueDrain.await(client, clock.instant().plus(drainMax), () -> instance.workOutsideQueue() > 0, queue -> {
            log.info("{}: restart waits for {} running and {} pending prompt(s)", instance.name(),
                    queue.runningCount(), queue.pendingCount());
            events.post(EventType.DRAIN_WAIT, instance.name(), "restart waits for " + queue.runningCount()
                            + " running and " + queue.pendingCount() + " pending prompt(s), at most " + drainMax.toSeconds() + " s",
                    Map.of("running", queue.runningCount(), "pending", queue.pendingCount(), "drainMaxSeconds", drainMax.toSeconds()));
        });
    }

    private String vramReleased(long oldPid) {
        try {
            List<GpuProcess> holders = gpus.computeApps();
            return holders.stream().anyMatch(p -> p.pid() == oldPid)
                    ? "; WARNING: the old ComfyUI (pid " + oldPid + ") still holds GPU memory after it stopped"
                    : "";
        } catch (RuntimeException e) {
            return "; GPU memory release not checked: " + e.getMessage();
        }
    }

    private void save() {
        store.save(new ScheduleStore.State(enabled, nextRestart));
    }

    @Override
    public void close() {
        worker.shutdownNow();
    }
}
