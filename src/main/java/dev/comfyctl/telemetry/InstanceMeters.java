package dev.comfyctl.telemetry;

import dev.comfyctl.proxy.WakePolicy;
import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.supervisor.IdleStopper;
import dev.comfyctl.supervisor.InstanceListener;
import dev.comfyctl.supervisor.InstanceState;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * One instance's lifecycle as meters, all labelled with the instance's name: its state (one gauge per
 * state, 1 for the current one), starts by outcome, the time the last successful start took, crashes, and
 * the wakes and idle stops its policies count themselves.
 */
final class InstanceMeters implements InstanceListener {
    private static final double NANOS_PER_SECOND = 1e9;

    private final Counter readyStarts;
    private final Counter failedStarts;
    private final Counter crashes;
    /** Written and read on the instance's lifecycle thread only. */
    private long startingSince;
    private volatile double lastTimeToReadySeconds = Double.NaN;

    private InstanceMeters(MeterRegistry registry, String instance) {
        this.readyStarts = starts(registry, instance, "ready");
        this.failedStarts = starts(registry, instance, "failed");
        this.crashes = Counter.builder("comfyctl.instance.crashes").tag("instance", instance)
                .description("Times ComfyUI exited on its own while READY").register(registry);
        Gauge.builder("comfyctl.instance.time.to.ready", this, meters -> meters.lastTimeToReadySeconds)
                .strongReference(true).tag("instance", instance).baseUnit("seconds")
                .description("How long the last successful start took, from STARTING to READY; NaN before the first")
                .register(registry);
    }

    /** Registers the instance's meters and starts listening to it. */
    static void register(MeterRegistry registry, ComfyInstance instance, WakePolicy wakes, IdleStopper idle) {
        String name = instance.name();
        for (InstanceState state : InstanceState.values()) {
            Gauge.builder("comfyctl.instance.state", instance, i -> i.state() == state ? 1 : 0)
                    .tag("instance", name).tag("state", state.name())
                    .description("1 for the state the instance is in, 0 for the others").register(registry);
        }
        FunctionCounter.builder("comfyctl.instance.wakes", wakes, WakePolicy::wakes).tag("instance", name)
                .description("Starts caused by a proxied request").register(registry);
        FunctionCounter.builder("comfyctl.instance.idle.stops", idle, IdleStopper::idleStops).tag("instance", name)
                .description("Stops because nothing happened for IDLE_TIMEOUT_SECONDS").register(registry);
        instance.addListener(new InstanceMeters(registry, name));
    }

    private static Counter starts(MeterRegistry registry, String instance, String outcome) {
        return Counter.builder("comfyctl.instance.starts").tag("instance", instance).tag("outcome", outcome)
                .description("Starts of ComfyUI by outcome, whoever asked: a user, a wake, a crash restart")
                .register(registry);
    }

    @Override
    public void stateChanged(String instance, InstanceState from, InstanceState to, String reason) {
        if (to == InstanceState.STARTING) {
            startingSince = System.nanoTime();
        } else if (from == InstanceState.STARTING && to == InstanceState.READY) {
            readyStarts.increment();
            lastTimeToReadySeconds = (System.nanoTime() - startingSince) / NANOS_PER_SECOND;
        } else if (from == InstanceState.STARTING) {
            failedStarts.increment();
        } else if (from == InstanceState.READY && to == InstanceState.FAILED) {
            crashes.increment();
        }
    }
}
