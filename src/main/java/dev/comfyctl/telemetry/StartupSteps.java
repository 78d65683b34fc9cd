package dev.comfyctl.telemetry;

import dev.comfyctl.events.Event;
import dev.comfyctl.events.EventType;
import dev.comfyctl.events.Events;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The daemon's startup as numbered steps in {@link Phase}s. Each step is an OpenTelemetry span
 * {@code machine.{phase}.{component}.{action}} under one {@code machine.startup} span, carrying
 * {@code machine_id}, {@code step_number}, {@code step_name}, {@code phase}, {@code gpu_mode} and
 * {@code workers}; a failed step gets a {@code machine.step.failure} event (error_type, error_message,
 * retry_attempt, duration_ms) and the ERROR status. Each step that ends is also a {@code startup_step} event
 * in the event log, and {@link #list()} keeps them all for {@code /status}.
 *
 * <p>Adding a step is one line: {@code steps.run(Phase.COMPONENTS, "custom_nodes", "install", "Custom nodes", installer::run)}.
 * Numbers are given in the order steps begin. Thread-safe.
 */
public final class StartupSteps {
    private static final Logger log = LoggerFactory.getLogger(StartupSteps.class);
    static final String ROOT_SPAN = "machine.startup";
    static final String FAILURE_EVENT = "machine.step.failure";
    static final AttributeKey<Long> STEP_NUMBER = AttributeKey.longKey("step_number");
    static final AttributeKey<String> STEP_NAME = AttributeKey.stringKey("step_name");
    static final AttributeKey<String> PHASE = AttributeKey.stringKey("phase");
    static final AttributeKey<String> ERROR_TYPE = AttributeKey.stringKey("error_type");
    static final AttributeKey<String> ERROR_MESSAGE = AttributeKey.stringKey("error_message");
    static final AttributeKey<Long> RETRY_ATTEMPT = AttributeKey.longKey("retry_attempt");
    static final AttributeKey<Long> DURATION_MS = AttributeKey.longKey("duration_ms");

    public enum State { RUNNING, DONE, SKIPPED, FAILED }

    /** One step as it stands; {@code duration} and {@code detail} once it has ended, {@code error} when it failed. */
    public record Step(int number, String name, Phase phase, String span, State state, Instant startedAt,
                       Optional<Duration> duration, Optional<String> detail, Optional<String> errorType,
                       Optional<String> error) {
    }

    private final Tracer tracer;
    private final MachineAttributes machine;
    private final Clock clock;
    private final Span root;
    private final List<Running> steps = new ArrayList<>();
    private Events events = Events.NONE;
    private final List<Consumer<Step>> watchers = new ArrayList<>();
    private boolean finished;

    public StartupSteps(Tracer tracer, MachineAttributes machine) {
        this(tracer, machine, Clock.systemUTC());
    }

    StartupSteps(Tracer tracer, MachineAttributes machine, Clock clock) {
        this.tracer = tracer;
        this.machine = machine;
        this.clock = clock;
        this.root = tracer.spanBuilder(ROOT_SPAN).setNoParent().setAllAttributes(machine.attributes())
                .setStartTimestamp(clock.instant()).startSpan();
    }

    /** Runs {@code work} as the next step; a failure is recorded and rethrown as is. */
    public <T> T run(Phase phase, String component, String action, String name, Supplier<T> work) {
        return run(phase, component, action, name, work, result -> "");
    }

    /**
     * Runs {@code work} as the next step, {@code describe} saying what it found (for {@code /status} and the log);
     * a failure is recorded and rethrown as is.
     */
    public <T> T run(Phase phase, String component, String action, String name, Supplier<T> work,
                     Function<T, String> describe) {
        Running step = begin(phase, component, action, name);
        try {
            T result = work.get();
            step.done(describe.apply(result));
            return result;
        } catch (RuntimeException e) {
            step.fail(e);
            throw e;
        }
    }

    /** Runs {@code work} as the next step; a failure is recorded and rethrown as is. */
    public void run(Phase phase, String component, String action, String name, Runnable work) {
        run(phase, component, action, name, () -> {
            work.run();
            return null;
        });
    }

    /** Begins the next step, for work that ends elsewhere (such as several instance starts at once). */
    public synchronized Running begin(Phase phase, String component, String action, String name) {
        int number = steps.size() + 1;
        Instant now = clock.instant();
        Span span = tracer.spanBuilder(phase.spanName(component, action)).setParent(Context.root().with(root))
                .setAllAttributes(machine.attributes())
                .setAttribute(STEP_NUMBER, (long) number).setAttribute(STEP_NAME, name).setAttribute(PHASE, phase.attribute())
                .setStartTimestamp(now).startSpan();
        Running step = new Running(number, name, phase, phase.spanName(component, action), span, now);
        steps.add(step);
        log.info("startup step {} ({}): {}", number, phase.attribute(), name);
        tellWatchers(step);
        return step;
    }

    /** Records a step that was not needed, with why. */
    public void skip(Phase phase, String component, String action, String name, String why) {
        begin(phase, component, action, name).end(State.SKIPPED, why, null, null);
    }

    /** From now on every step that ends is also in {@code events}; the ones that already ended are posted now. */
    public synchronized void publishTo(Events events) {
        this.events = events;
        steps.stream().filter(step -> step.state != State.RUNNING).forEach(this::post);
    }

    /** Tells {@code watcher} of every step as it begins and as it ends, from the steps so far (as they stand) on. */
    public synchronized void watch(Consumer<Step> watcher) {
        steps.forEach(step -> watcher.accept(step.snapshot()));
        watchers.add(watcher);
    }

    private void tellWatchers(Running step) {
        Step snapshot = step.snapshot();
        watchers.forEach(watcher -> watcher.accept(snapshot));
    }

    public synchronized List<Step> list() {
        return steps.stream().map(Running::snapshot).toList();
    }

    /** Ends the {@code machine.startup} span, with ERROR when a step failed; idempotent. */
    public synchronized void finish() {
        if (finished) {
            return;
        }
        finished = true;
        steps.stream().filter(step -> step.state == State.FAILED).findFirst().ifPresent(failed ->
                root.setStatus(StatusCode.ERROR, "step " + failed.number + " (" + failed.name + ") failed: " + failed.error));
        root.end(clock.instant());
    }

    private void post(Running step) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("number", step.number);
        fields.put("name", step.name);
        fields.put("phase", step.phase.attribute());
        fields.put("state", step.state.name());
        fields.put("durationMs", step.duration.toMillis());
        if (step.error != null) {
            fields.put("errorType", step.errorType);
            fields.put("error", step.error);
        }
        events.post(EventType.STARTUP_STEP, Event.DAEMON, describe(step), fields);
    }

    private static String describe(Running step) {
        String head = "step " + step.number + " (" + step.name + ") ";
        return switch (step.state) {
            case FAILED -> head + "failed after " + step.duration.toMillis() + " ms: " + step.error;
            case SKIPPED -> head + "skipped: " + step.detail;
            default -> head + "done in " + step.duration.toMillis() + " ms" + (step.detail.isEmpty() ? "" : ": " + step.detail);
        };
    }

    /** {@code StartFailedException} gives {@code start_failed}: the kind of failure, for grouping in traces. */
    static String errorType(Throwable failure) {
        String name = failure.getClass().getSimpleName().replaceFirst("(Exception|Error)$", "");
        return name.replaceAll("([a-z0-9])([A-Z])", "$1_$2").toLowerCase(Locale.ROOT);
    }

    /** A step under way; ends once, with {@link #done}, {@link #fail(Throwable)} or {@link #fail(String, String)}. */
    public final class Running {
        private final int number;
        private final String name;
        private final Phase phase;
        private final String spanName;
        private final Span span;
        private final Instant startedAt;
        private State state = State.RUNNING;
        private Duration duration = Duration.ZERO;
        private String detail = "";
        private String errorType;
        private String error;

        private Running(int number, String name, Phase phase, String spanName, Span span, Instant startedAt) {
            this.number = number;
            this.name = name;
            this.phase = phase;
            this.spanName = spanName;
            this.span = span;
            this.startedAt = startedAt;
        }

        /** The step's span, as the parent of finer spans. */
        public Span span() {
            return span;
        }

        public int number() {
            return number;
        }

        public void done(String detail) {
            end(State.DONE, detail, null, null);
        }

        public void fail(Throwable failure) {
            fail(errorType(failure), String.valueOf(failure.getMessage()));
        }

        public void fail(String errorType, String message) {
            end(State.FAILED, "", errorType, message);
        }

        private void end(State outcome, String detail, String errorType, String error) {
            synchronized (StartupSteps.this) {
                if (state != State.RUNNING) {
                    return;
                }
                Instant now = clock.instant();
                state = outcome;
                duration = Duration.between(startedAt, now);
                this.detail = detail;
                this.errorType = errorType;
                this.error = error;
                if (outcome == State.FAILED) {
                    span.addEvent(FAILURE_EVENT, Attributes.builder()
                            .put(STEP_NUMBER, (long) number).put(STEP_NAME, name).put(ERROR_TYPE, errorType)
                            .put(ERROR_MESSAGE, error).put(RETRY_ATTEMPT, 0L).put(DURATION_MS, duration.toMillis())
                            .build(), now.toEpochMilli(), TimeUnit.MILLISECONDS);
                    span.setStatus(StatusCode.ERROR, error);
                    log.warn("startup step {} ({}) failed after {} ms: {}", number, name, duration.toMillis(), error);
                } else {
                    log.info("startup step {} ({}) {} in {} ms{}", number, name, outcome.name().toLowerCase(Locale.ROOT),
                            duration.toMillis(), detail.isEmpty() ? "" : ": " + detail);
                }
                span.end(now);
                post(this);
                tellWatchers(this);
            }
        }

        private Step snapshot() {
            boolean ended = state != State.RUNNING;
            return new Step(number, name, phase, spanName, state, startedAt,
                    ended ? Optional.of(duration) : Optional.empty(),
                    detail.isEmpty() ? Optional.empty() : Optional.of(detail),
                    Optional.ofNullable(errorType), Optional.ofNullable(error));
        }
    }
}
