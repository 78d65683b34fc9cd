package dev.comfyctl.telemetry;

import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.supervisor.InstanceListener;
import dev.comfyctl.supervisor.InstanceState;
import dev.comfyctl.supervisor.Step;
import dev.comfyctl.supervisor.StepEvent;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;

import java.time.Duration;
import java.time.Instant;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Traces every start of one instance, whoever asked for it (the daemon's startup, a user, a wake-up, a crash
 * restart): a {@code machine.comfyui.server.start} span, with one child span per start step
 * ({@code machine.comfyui.preflight.check}, ... {@code machine.comfyui.process.launch}). A step that fails gets
 * the {@code machine.step.failure} event and the ERROR status, and so does its start.
 *
 * <p>All but {@link #nextStartUnder} run on the instance's lifecycle thread, one at a time.
 */
public final class InstanceTracer implements InstanceListener {
    static final String START_SPAN = Phase.COMFYUI.spanName("server", "start");
    static final AttributeKey<String> INSTANCE = AttributeKey.stringKey("instance");
    static final AttributeKey<String> REASON = AttributeKey.stringKey("reason");
    static final AttributeKey<String> MESSAGE = AttributeKey.stringKey("message");

    private final ComfyInstance instance;
    private final Tracer tracer;
    private final MachineAttributes machine;
    private final AtomicReference<Span> adopted = new AtomicReference<>();
    private final Map<Step, Child> children = new EnumMap<>(Step.class);
    private Span start;
    private boolean owned;
    private Instant startedAt;

    private record Child(Span span, Instant began) {
    }

    private InstanceTracer(ComfyInstance instance, Tracer tracer, MachineAttributes machine) {
        this.instance = instance;
        this.tracer = tracer;
        this.machine = machine;
    }

    /** Traces every start of {@code instance} from now on. */
    public static InstanceTracer watch(ComfyInstance instance, Tracer tracer, MachineAttributes machine) {
        InstanceTracer traced = new InstanceTracer(instance, tracer, machine);
        instance.addListener(traced);
        return traced;
    }

    /**
     * Makes {@code span} (a startup step's own {@code machine.comfyui.server.start}) the span of the next start,
     * which its owner ends; the start's step spans become its children.
     */
    public void nextStartUnder(Span span) {
        adopted.set(span);
    }

    @Override
    public void stateChanged(String name, InstanceState from, InstanceState to, String reason) {
        if (to == InstanceState.STARTING) {
            startedAt = Instant.now();
            Span given = adopted.getAndSet(null);
            // An ended span was given for a start that never came (the instance was already running).
            owned = given == null || !given.isRecording();
            start = owned ? tracer.spanBuilder(START_SPAN).setNoParent().setAllAttributes(machine.attributes())
                    .setAttribute(StartupSteps.STEP_NAME, "ComfyUI start").setAttribute(StartupSteps.PHASE, Phase.COMFYUI.attribute())
                    .setAttribute(INSTANCE, name).setAttribute(REASON, reason).setStartTimestamp(startedAt).startSpan()
                    : given;
            return;
        }
        if (from != InstanceState.STARTING || start == null) {
            return;
        }
        Instant now = Instant.now();
        children.values().forEach(child -> child.span().end(now));
        children.clear();
        if (owned) {
            if (to != InstanceState.READY) {
                failure(start, "start_failed", "ComfyUI start", 0, reason, startedAt, now);
            }
            start.end(now);
        }
        start = null;
    }

    @Override
    public void stepHappened(String name, StepEvent event) {
        if (start == null) {
            return;
        }
        Step step = event.step();
        Child child = children.get(step);
        if (child == null) {
            Span span = tracer.spanBuilder(Phase.COMFYUI.spanName(component(step), action(step)))
                    .setParent(Context.root().with(start)).setAllAttributes(machine.attributes())
                    .setAttribute(StartupSteps.STEP_NUMBER, (long) step.number()).setAttribute(StartupSteps.STEP_NAME, step.title())
                    .setAttribute(StartupSteps.PHASE, Phase.COMFYUI.attribute()).setAttribute(INSTANCE, name)
                    .setStartTimestamp(event.at()).startSpan();
            child = new Child(span, event.at());
            children.put(step, child);
        }
        switch (event.outcome()) {
            case RUNNING -> child.span().addEvent("running", Attributes.of(MESSAGE, event.message()), event.at());
            case DONE, WARNING -> {
                child.span().setAttribute(MESSAGE, event.message());
                if (event.outcome() == StepEvent.Outcome.WARNING) {
                    child.span().addEvent("warning", Attributes.of(MESSAGE, event.message()), event.at());
                }
                children.remove(step).span().end(event.at());
            }
            case FAILED -> {
                failure(child.span(), step.name().toLowerCase(Locale.ROOT) + "_failed", step.title(), step.number(),
                        event.message(), child.began(), event.at());
                children.remove(step).span().end(event.at());
            }
        }
    }

    private void failure(Span span, String errorType, String stepName, long stepNumber, String message, Instant began, Instant at) {
        span.addEvent(StartupSteps.FAILURE_EVENT, Attributes.builder()
                .put(StartupSteps.STEP_NUMBER, stepNumber).put(StartupSteps.STEP_NAME, stepName)
                .put(StartupSteps.ERROR_TYPE, errorType).put(StartupSteps.ERROR_MESSAGE, message)
                .put(StartupSteps.RETRY_ATTEMPT, (long) instance.snapshot().consecutiveCrashes())
                .put(StartupSteps.DURATION_MS, Duration.between(began, at).toMillis())
                .build(), at.toEpochMilli(), TimeUnit.MILLISECONDS);
        span.setStatus(StatusCode.ERROR, message);
    }

    private static String component(Step step) {
        return switch (step) {
            case PREFLIGHT -> "preflight";
            case STRAY_PROCESSES -> "strays";
            case GPU -> "gpu";
            case FLAGS -> "flags";
            case MODELS -> "models";
            case SESSION_LOG -> "session_log";
            case LAUNCH -> "process";
            case URLS -> "urls";
        };
    }

    private static String action(Step step) {
        return switch (step) {
            case PREFLIGHT -> "check";
            case STRAY_PROCESSES -> "stop";
            case GPU -> "detect";
            case FLAGS -> "choose";
            case MODELS -> "count";
            case SESSION_LOG -> "open";
            case LAUNCH -> "launch";
            case URLS -> "report";
        };
    }
}
