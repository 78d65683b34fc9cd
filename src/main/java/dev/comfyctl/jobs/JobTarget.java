package dev.comfyctl.jobs;

import dev.comfyctl.comfy.ComfyClient;
import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.supervisor.InstanceState;

import java.net.http.HttpClient;
import java.time.Duration;
import java.util.function.BooleanSupplier;

/**
 * One ComfyUI instance as the job dispatcher sees it: a store consumer of its own ({@link #worker()}), at most
 * {@code slots} prompts at once, none while it restarts or drains, and the WebSocket its jobs share.
 */
public final class JobTarget {
    private final String worker;
    private final ComfyInstance instance;
    private final ComfyClient client;
    private final int slots;
    private final BooleanSupplier draining;
    private final Runnable activity;
    private volatile long pausedUntilNanos = System.nanoTime();
    /** Guarded by this; replaced once it dropped. */
    private PromptSocket socket;

    /**
     * @param worker   the consumer name in the store, unique to this daemon process and instance
     * @param draining true while a scheduled restart waits for the instance's queue to empty
     * @param activity told while jobs run, so that the idle stopper never stops an instance with jobs in flight
     */
    public JobTarget(String worker, ComfyInstance instance, ComfyClient client, int slots, BooleanSupplier draining,
                     Runnable activity) {
        if (slots < 1) {
            throw new IllegalArgumentException("slots < 1");
        }
        this.worker = worker;
        this.instance = instance;
        this.client = client;
        this.slots = slots;
        this.draining = draining;
        this.activity = activity;
    }

    public String worker() {
        return worker;
    }

    public String name() {
        return instance.name();
    }

    public int inFlight() {
        return instance.workOutsideQueue();
    }

    public ComfyInstance instance() {
        return instance;
    }

    ComfyClient client() {
        return client;
    }

    /** READY, not draining, not paused, and a free slot. */
    boolean acceptsWork() {
        return instance.state() == InstanceState.READY && !draining.getAsBoolean() && inFlight() < slots
                && System.nanoTime() - pausedUntilNanos >= 0;
    }

    /** Offers no work for a while: its ComfyUI did not answer, and its supervisor has yet to notice. */
    void pause(Duration duration) {
        pausedUntilNanos = System.nanoTime() + duration.toNanos();
    }

    /** Idle-stopped or never started: a queued job wakes it. A FAILED instance is left to its crash policy. */
    boolean asleep() {
        return instance.state() == InstanceState.STOPPED;
    }

    boolean awake() {
        InstanceState state = instance.state();
        return state == InstanceState.READY || state == InstanceState.STARTING;
    }

    void started() {
        instance.holdWork();
        activity.run();
    }

    void finished() {
        instance.releaseWork();
        activity.run();
    }

    void busy() {
        activity.run();
    }

    /** The WebSocket this instance's jobs share, opened now if there is none or it dropped. */
    synchronized PromptSocket socket(HttpClient http, Duration timeout) throws ComfyUnreachableException {
        if (socket == null || !socket.isOpen()) {
            socket = PromptSocket.open(http, client.baseUri(), "comfyctl-" + worker, timeout);
        }
        return socket;
    }

    /** Closes the shared WebSocket, if open: comfyctl is shutting down. */
    synchronized void closeSocket() {
        if (socket != null) {
            socket.close();
            socket = null;
        }
    }
}
