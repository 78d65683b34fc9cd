package dev.comfyctl.supervisor;

import dev.comfyctl.config.Config;
import dev.comfyctl.events.EventType;
import dev.comfyctl.events.Events;
import dev.comfyctl.gpu.GpuDetector;
import dev.comfyctl.process.RunningProcess;
import dev.comfyctl.process.StopResult;
import dev.comfyctl.supervisor.StepEvent.Outcome;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * One supervised ComfyUI process and its state machine ({@link InstanceState}).
 *
 * <p>Every lifecycle action runs on the instance's own single lifecycle thread, so starts, stops, crash
 * restarts and exits never interleave; the public methods only queue work and return futures. State is
 * changed in one place, {@link #transition}, which logs it and tells the listeners. What happens is also
 * reported to {@link Events}: a start begins, ready, stopped, crashed, start failed, and a forced kill, which
 * is on disk before the SIGKILL is sent.
 */
public final class ComfyInstance implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ComfyInstance.class);
    /** Ready this long without crashing, and earlier crashes no longer count toward a crash loop. */
    private static final Duration STABLE_AFTER = Duration.ofMinutes(5);
    private static final int STEPS_KEPT = 32;

    private final Config config;
    private final InstanceSpec spec;
    private final GpuDetector gpuDetector;
    private final Events events;
    private final CrashBackoff backoff;
    private final ScheduledExecutorService lifecycle;
    private final List<InstanceListener> listeners = new CopyOnWriteArrayList<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final AtomicInteger workOutsideQueue = new AtomicInteger();

    private volatile InstanceState state = InstanceState.STOPPED;
    private volatile RunningProcess process;
    private volatile Instant startedAt;
    private volatile Instant readyAt;
    private volatile Path sessionLog;
    private volatile String lastError;
    private volatile List<String> lastFailureLogTail = List.of();
    private volatile int consecutiveCrashes;
    private volatile Instant restartScheduledAt;
    private volatile List<StepEvent> steps = List.of();
    private volatile Thread startingThread;
    private ScheduledFuture<?> pendingRestart;
    private long generation;

    /** An instance whose events go nowhere. */
    public ComfyInstance(Config config, InstanceSpec spec, GpuDetector gpuDetector) {
        this(config, spec, gpuDetector, Events.NONE);
    }

    public ComfyInstance(Config config, InstanceSpec spec, GpuDetector gpuDetector, Events events) {
        this.config = config;
        this.spec = spec;
        this.gpuDetector = gpuDetector;
        this.events = events;
        this.backoff = new CrashBackoff(config.crashBackoff(), config.crashBackoffMax());
        this.lifecycle = Executors.newSingleThreadScheduledExecutor(runnable -> {
            Thread thread = new Thread(runnable, spec.name() + "-lifecycle");
            thread.setDaemon(true);
            return thread;
        });
    }

    public String name() {
        return spec.name();
    }

    /** What makes this instance different from its siblings: port, GPU, logs, and the client of its ComfyUI. */
    public InstanceSpec spec() {
        return spec;
    }

    /**
     * Marks work on this ComfyUI that its queue does not show, such as a job still fetching the outputs of its
     * finished prompt: a drain before a restart or an update waits for it too, or the job would run again.
     */
    public void holdWork() {
        workOutsideQueue.incrementAndGet();
    }

    public void releaseWork() {
        workOutsideQueue.decrementAndGet();
    }

    /** Pieces of work held with {@link #holdWork()} and not yet released. */
    public int workOutsideQueue() {
        return workOutsideQueue.get();
    }

    public InstanceState state() {
        return state;
    }

    public void addListener(InstanceListener listener) {
        listeners.add(listener);
    }

    /**
     * Starts ComfyUI unless it is already ready. Completes exceptionally with {@link StartFailedException}
     * when a step fails; the instance is then FAILED and nothing it started keeps running.
     *
     * @param progress told about every step as it happens, on the lifecycle thread
     */
    public CompletableFuture<StartOutcome> start(Consumer<StepEvent> progress) {
        return submit(() -> {
            cancelPendingRestart();
            consecutiveCrashes = 0;
            return startNow(progress, "start requested");
        });
    }

    /** Stops ComfyUI and everything it spawned; idempotent. A start under way is cancelled. */
    public CompletableFuture<StopOutcome> stop() {
        return stop("stop requested");
    }

    /** Like {@link #stop()}, with the reason logged and evented for the transition. */
    public CompletableFuture<StopOutcome> stop(String reason) {
        Thread starting = startingThread;
        if (starting != null) {
            starting.interrupt();
        }
        return submit(() -> stopNow(reason));
    }

    /**
     * Stops ComfyUI only if it is still READY and {@code stillWanted} holds when the lifecycle thread gets to
     * it, so that a stop decided a moment ago never cuts a start or a request that arrived since.
     * {@code stillWanted} runs right before the stop and only while READY, so a caller may record the event
     * that announces the stop there (see {@link Events#record}).
     */
    public CompletableFuture<Boolean> stopIf(BooleanSupplier stillWanted, String reason) {
        return submit(() -> {
            if (state != InstanceState.READY || !stillWanted.getAsBoolean()) {
                return false;
            }
            stopNow(reason);
            return true;
        });
    }

    /** Stops ComfyUI when it runs, then starts it. */
    public CompletableFuture<StartOutcome> restart(Consumer<StepEvent> progress) {
        return restart("restart requested", progress);
    }

    /** Like {@link #restart(Consumer)}, with the reason logged and evented for the transitions. */
    public CompletableFuture<StartOutcome> restart(String reason, Consumer<StepEvent> progress) {
        return submit(() -> {
            cancelPendingRestart();
            consecutiveCrashes = 0;
            stopNow(reason);
            return startNow(progress, reason);
        });
    }

    public InstanceSnapshot snapshot() {
        RunningProcess current = process;
        return new InstanceSnapshot(spec.name(), state,
                current == null ? OptionalLong.empty() : OptionalLong.of(current.pid()),
                spec.port(), Optional.ofNullable(startedAt), Optional.ofNullable(readyAt),
                Optional.ofNullable(sessionLog), Optional.ofNullable(lastError), lastFailureLogTail, consecutiveCrashes,
                Optional.ofNullable(restartScheduledAt), steps);
    }

    private StartOutcome startNow(Consumer<StepEvent> progress, String reason) {
        if (state == InstanceState.READY && process != null && process.isAlive()) {
            return new StartOutcome(true, process.pid(), Duration.ZERO, sessionLog);
        }
        transition(InstanceState.STARTING, reason);
        events.post(EventType.COMFYUI_START, spec.name(), reason, Map.of("port", spec.port()));
        startedAt = Instant.now();
        readyAt = null;
        steps = List.of();
        startingThread = Thread.currentThread();
        Startup.Launched launched;
        try {
            launched = new Startup(config, spec, gpuDetector, event -> record(event, progress)).run();
        } catch (StartFailedException e) {
            lastError = e.getMessage();
            lastFailureLogTail = e.logTail();
            String why = "start failed at step " + e.step().number() + " (" + e.step().title() + "): " + e.getMessage();
            transition(InstanceState.FAILED, why);
            events.post(EventType.START_FAILED, spec.name(), why,
                    Map.of("step", e.step().number(), "stepTitle", e.step().title(), "logTail", e.logTail()));
            throw e;
        } finally {
            startingThread = null;
            Thread.interrupted();
        }
        long ourGeneration = ++generation;
        process = launched.process();
        sessionLog = launched.sessionLog();
        readyAt = Instant.now();
        lastError = null;
        lastFailureLogTail = List.of();
        writePidFile(launched.process().pid());
        launched.process().onExit().thenAccept(code -> lifecycle.execute(() -> exited(ourGeneration, code)));
        transition(InstanceState.READY, "ready in " + launched.timeToReady().toMillis() + " ms");
        events.post(EventType.COMFYUI_READY, spec.name(), String.format("ready in %.1f s (pid %d)",
                        launched.timeToReady().toMillis() / 1000.0, launched.process().pid()),
                Map.of("timeToReadyMs", launched.timeToReady().toMillis(), "pid", launched.process().pid(),
                        "port", spec.port(), "sessionLog", launched.sessionLog()));
        return new StartOutcome(false, launched.process().pid(), launched.timeToReady(), launched.sessionLog());
    }

    private StopOutcome stopNow(String reason) {
        cancelPendingRestart();
        RunningProcess current = process;
        if (current == null) {
            if (state != InstanceState.STOPPED) {
                transition(InstanceState.STOPPED, reason);
                events.post(EventType.COMFYUI_STOP, spec.name(), reason, Map.of("reason", reason, "wasRunning", false));
            }
            return new StopOutcome(false, false, Duration.ZERO, List.of());
        }
        generation++;
        transition(InstanceState.STOPPING, reason);
        StopResult result = current.stop(config.stopGrace(), pids -> events.record(EventType.FORCED_KILL, spec.name(),
                "still running " + config.stopGrace().toSeconds() + " s after SIGTERM (" + reason + "): SIGKILL to " + pids,
                Map.of("pids", pids, "graceSeconds", config.stopGrace().toSeconds(), "reason", reason)));
        process = null;
        deletePidFile();
        Map<String, Object> fields = Map.of("reason", reason, "wasRunning", result.wasRunning(), "forced", result.forced(),
                "tookMs", result.took().toMillis(), "survivors", result.survivors());
        if (!result.survivors().isEmpty()) {
            lastError = "processes " + result.survivors() + " survived SIGKILL";
            transition(InstanceState.FAILED, lastError);
            events.post(EventType.COMFYUI_STOP, spec.name(), lastError + " (" + reason + ")", fields);
        } else {
            String how = result.wasRunning()
                    ? (result.forced() ? "killed after the " + config.stopGrace().toSeconds() + " s grace period" : "stopped")
                    + " in " + result.took().toMillis() + " ms"
                    : "had already exited";
            transition(InstanceState.STOPPED, how);
            events.post(EventType.COMFYUI_STOP, spec.name(), how + " (" + reason + ")", fields);
        }
        return new StopOutcome(result.wasRunning(), result.forced(), result.took(), result.signalled());
    }

    private void exited(long exitedGeneration, int code) {
        if (exitedGeneration != generation || state != InstanceState.READY) {
            return;
        }
        process = null;
        deletePidFile();
        if (code == 0 && consumeRebootMarker()) {
            restartOnRequest();
            return;
        }
        if (readyAt != null && Duration.between(readyAt, Instant.now()).compareTo(STABLE_AFTER) > 0) {
            consecutiveCrashes = 0;
        }
        crashed("ComfyUI exited on its own with code " + code + " (log: " + sessionLog + ")", Map.of("exitCode", code));
    }

    private boolean consumeRebootMarker() {
        try {
            return Files.deleteIfExists(spec.rebootMarker());
        } catch (IOException e) {
            log.warn("{}: cannot remove the reboot marker {}: {}", spec.name(), spec.rebootMarker(), e.getMessage());
            return true;
        }
    }

    /** ComfyUI (ComfyUI-Manager's restart button) exited asking to be started again: not a stop, not a crash. */
    private void restartOnRequest() {
        String reason = "ComfyUI asked to be restarted (ComfyUI-Manager)";
        transition(InstanceState.STOPPED, reason);
        try {
            startNow(event -> { }, reason);
        } catch (StartFailedException e) {
            log.warn("{}: the restart ComfyUI asked for failed: {}", spec.name(), e.getMessage());
        }
    }

    private void crashed(String what, Map<String, Object> details) {
        consecutiveCrashes++;
        lastError = what;
        if (!config.restartOnCrash()) {
            failedByCrash(what + "; not restarted (COMFYUI_RESTART_ON_CRASH=false)", details, Map.of("restart", false));
            return;
        }
        if (consecutiveCrashes > config.maxCrashRestarts()) {
            failedByCrash("crash loop: " + consecutiveCrashes + " crashes in a row, giving up after "
                    + config.maxCrashRestarts() + " restarts (COMFYUI_CRASH_MAX_RESTARTS); last: " + what
                    + ". Fix the cause, then run 'comfyctl start'", details, Map.of("restart", false));
            return;
        }
        Duration delay = backoff.delayAfter(consecutiveCrashes);
        restartScheduledAt = Instant.now().plus(delay);
        failedByCrash(what + "; restart " + consecutiveCrashes + " of " + config.maxCrashRestarts()
                + " in " + delay.toMillis() + " ms", details, Map.of("restart", true, "restartInMs", delay.toMillis()));
        pendingRestart = lifecycle.schedule(this::restartAfterCrash, delay.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void restartAfterCrash() {
        pendingRestart = null;
        restartScheduledAt = null;
        if (state != InstanceState.FAILED || closed.get()) {
            return;
        }
        try {
            startNow(event -> { }, "restart after crash " + consecutiveCrashes);
        } catch (StartFailedException e) {
            crashed("restart failed: " + e.getMessage(), Map.of());
        } catch (RuntimeException e) {
            log.error("Unexpected failure restarting {} after a crash", spec.name(), e);
            crashed("restart failed unexpectedly: " + e, Map.of());
        }
    }

    private void failedByCrash(String reason, Map<String, Object> details, Map<String, Object> restart) {
        transition(InstanceState.FAILED, reason);
        Map<String, Object> fields = new LinkedHashMap<>(details);
        fields.put("consecutiveCrashes", consecutiveCrashes);
        fields.putAll(restart);
        events.post(EventType.CRASH, spec.name(), reason, fields);
    }

    private void cancelPendingRestart() {
        if (pendingRestart != null) {
            pendingRestart.cancel(false);
            pendingRestart = null;
            restartScheduledAt = null;
        }
    }

    private void record(StepEvent event, Consumer<StepEvent> progress) {
        List<StepEvent> next = new ArrayList<>(steps);
        next.add(event);
        steps = List.copyOf(next.subList(Math.max(0, next.size() - STEPS_KEPT), next.size()));
        if (event.outcome() != Outcome.RUNNING) {
            log.info("{}: step {} {}: {} {}", spec.name(), event.step().number(), event.step().title(),
                    event.outcome(), event.message());
        }
        try {
            progress.accept(event);
        } catch (RuntimeException e) {
            log.warn("{}: a progress listener failed", spec.name(), e);
        }
        for (InstanceListener listener : listeners) {
            try {
                listener.stepHappened(spec.name(), event);
            } catch (RuntimeException e) {
                log.warn("{}: a step listener failed", spec.name(), e);
            }
        }
    }

    private void transition(InstanceState to, String reason) {
        InstanceState from = state;
        state = to;
        log.info("{}: {} -> {} ({})", spec.name(), from, to, reason);
        for (InstanceListener listener : listeners) {
            try {
                listener.stateChanged(spec.name(), from, to, reason);
            } catch (RuntimeException e) {
                log.warn("{}: a state listener failed", spec.name(), e);
            }
        }
    }

    private void writePidFile(long pid) {
        try {
            Files.createDirectories(spec.pidFile().getParent());
            Path temporary = spec.pidFile().resolveSibling(spec.pidFile().getFileName() + ".tmp");
            Files.writeString(temporary, pid + "\n");
            Files.move(temporary, spec.pidFile(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            log.warn("{}: cannot write pid file {}: {}", spec.name(), spec.pidFile(), e.getMessage());
        }
    }

    private void deletePidFile() {
        try {
            Files.deleteIfExists(spec.pidFile());
        } catch (IOException e) {
            log.warn("{}: cannot delete pid file {}: {}", spec.name(), spec.pidFile(), e.getMessage());
        }
    }

    private <T> CompletableFuture<T> submit(Callable<T> action) {
        CompletableFuture<T> result = new CompletableFuture<>();
        if (closed.get()) {
            result.completeExceptionally(new IllegalStateException(spec.name() + " is closed"));
            return result;
        }
        lifecycle.execute(() -> {
            try {
                result.complete(action.call());
            } catch (Exception e) {
                result.completeExceptionally(e);
            }
        });
        return result;
    }

    /** Stops ComfyUI (bounded by the grace period plus a margin) and the lifecycle thread; idempotent. */
    @Override
    public void close() {
        if (closed.getAndSet(true)) {
            return;
        }
        log.info("{}: shutting down", spec.name());
        Thread starting = startingThread;
        if (starting != null) {
            starting.interrupt();
        }
        lifecycle.execute(() -> stopNow("comfyctl is shutting down"));
        lifecycle.shutdown();
        try {
            if (!lifecycle.awaitTermination(config.stopGrace().toMillis() + 5_000, TimeUnit.MILLISECONDS)) {
                log.error("{}: timed out waiting for ComfyUI to stop", spec.name());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
