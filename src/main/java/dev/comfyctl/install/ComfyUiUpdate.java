package dev.comfyctl.install;

import dev.comfyctl.comfy.ComfyClient;
import dev.comfyctl.comfy.QueueDrain;
import dev.comfyctl.events.Event;
import dev.comfyctl.events.EventType;
import dev.comfyctl.events.Events;
import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.supervisor.InstanceState;
import dev.comfyctl.supervisor.StartFailedException;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;

/**
 * {@code comfyctl update}: moves the ComfyUI checkout to another version and makes the instances run it.
 *
 * <p>Steps: 1 resolve the version (a checkout with local changes is refused before anything moves), 2 wait for
 * the queues of the running instances to empty (up to the drain limit), 3 stop them, 4 check the version out,
 * 5 install {@code requirements.txt} when it differs from what is installed, 6 start the instances again and
 * wait for them to be ready. When 4 to 6 fail, step 7 goes back to the version before (its requirements again
 * when they differ), starts the instances on it and the update ends with the failure and ComfyUI's log tail.
 * Instances that were stopped stay stopped: the new version is then not verified. Each step is reported to the
 * listener as it starts and ends, and each end is an {@code update} event.
 */
public final class ComfyUiUpdate {
    /** One instance to drain and restart, with the client that reads its queue. */
    public record Supervised(ComfyInstance instance, ComfyClient client) {
    }

    /** What to update to: a named version, the version before the last update, or (neither) origin's newest. */
    public record Request(Optional<String> version, boolean rollback) {
        public Request {
            if (version.isPresent() && rollback) {
                throw new IllegalArgumentException("a version and rollback together");
            }
        }
    }

    public enum Outcome { RUNNING, DONE, SKIPPED, FAILED }

    public record Progress(int number, String title, Outcome outcome, String message) {
    }

    /** @param restarted whether instances run the new version now (false when none ran, or nothing changed) */
    public record Result(String from, String to, boolean changed, boolean restarted, String summary) {
    }

    static final int STEPS = 7;
    private static final String[] TITLES = {"version", "drain", "stop", "checkout", "requirements", "restart", "rollback"};
    private static final Duration DRAIN_POLL = Duration.ofMillis(500);

    private final ComfyUiCheckout checkout;
    private final Requirements requirements;
    private final UpdateHistory history;
    private final List<Supervised> instances;
    private final Duration drainMax;
    private final Clock clock;
    private final Events events;
    private final Consumer<Progress> listener;
    /** The step under way, reported as failed when the rollback begins. */
    private int current;

    ComfyUiUpdate(ComfyUiCheckout checkout, Requirements requirements, UpdateHistory history, List<Supervised> instances,
                  Duration drainMax, Clock clock, Events events, Consumer<Progress> listener) {
        this.checkout = checkout;
        this.requirements = requirements;
        this.history = history;
        this.instances = List.copyOf(instances);
        this.drainMax = drainMax;
        this.clock = clock;
        this.events = events;
        this.listener = listener;
    }

    /**
     * @param instances the daemon's instances; without any (no daemon runs), only the checkout and the requirements change
     * @param listener told about every step as it starts and ends, on the thread running the update
     */
    public static ComfyUiUpdate create(UpdateSettings settings, List<Supervised> instances, Events events,
                                       Consumer<Progress> listener) {
        return new ComfyUiUpdate(new ComfyUiCheckout(settings.dir(), settings.environment()), new Requirements(settings),
                new UpdateHistory(settings.home()), instances, settings.drainMax(), Clock.systemUTC(), events, listener);
    }

    /**
     * Moves ComfyUI to the version the request names; blocks for as long as that takes (not for an event loop).
     *
     * @throws UpdateException when nothing was changed (a dirty checkout, an unknown version, no update to roll
     *     back), or when the new version failed and was rolled back; the message says which and what to do
     */
    public Result run(Request request) {
        String from = checkout.head();
        String to = resolve(request, from);
        String fromName = checkout.describe(from);
        String toName = checkout.describe(to);
        if (to.equals(from)) {
            return new Result(fromName, toName, false, false, "ComfyUI is already at " + toName + "; nothing to do");
        }
        List<Supervised> running = instances.stream().filter(s -> s.instance().state() != InstanceState.STOPPED).toList();
        drain(running);
        stop(running, "update to " + toName);
        try {
            moveTo(4, to, from);
            restart(6, running, "update to " + toName);
        } catch (UpdateException | StartFailedException e) {
            throw rollBack(e, from, fromName, toName, running);
        }
        history.record(from, to, clock.instant());
        String summary = "ComfyUI updated from " + fromName + " to " + toName + (running.isEmpty()
                ? "; no instance was running, so it was not started (it runs the new version from its next start)"
                : "; " + names(running) + " ready on it");
        return new Result(fromName, toName, true, !running.isEmpty(), summary);
    }

    private String resolve(Request request, String head) {
        started(1, "checking " + checkout.dir());
        List<String> changes = checkout.localChanges();
        if (!changes.isEmpty()) {
            throw failed(1, checkout.dir() + " has local changes to " + changes.size() + " file(s) ("
                    + String.join(", ", changes.stream().map(line -> line.substring(Math.min(3, line.length()))).limit(5).toList())
                    + "); an update would overwrite them. Keep them with 'git -C " + checkout.dir() + " stash' (or commit them),"
                    + " or drop them with 'git -C " + checkout.dir() + " checkout -- .', then run 'comfyctl update' again",
                    changes);
        }
        String target;
        try {
            target = target(request);
        } catch (UpdateException e) {
            throw failed(1, e.getMessage(), e.outputTail());
        }
        finished(1, target.equals(head) ? Outcome.SKIPPED : Outcome.DONE, "at " + checkout.describe(head) + ", going to "
                + checkout.describe(target) + (request.rollback() ? " (the version before the last update)" : ""));
        return target;
    }

    private String target(Request request) {
        if (request.rollback()) {
            return history.last().map(UpdateHistory.Last::previous).orElseThrow(() -> new UpdateException("no update has been"
                    + " recorded in this state directory, so there is no version to go back to; name one with"
                    + " 'comfyctl update --version TAG'", List.of()));
        }
        try {
            if (request.version().isPresent()) {
                String version = request.version().get();
                return checkout.resolve(version).orElseThrow(() -> new UpdateException("version " + version + " is neither a"
                        + " tag, a branch nor a commit of ComfyUI's repository (origin of " + checkout.dir() + "); list the tags"
                        + " with 'git -C " + checkout.dir() + " tag'. Nothing was changed", List.of()));
            }
            return checkout.remoteDefault();
        } catch (UpdateException e) {
            if (e.getMessage().startsWith("git fetch")) {
                throw new UpdateException(e.getMessage() + ": is ComfyUI's repository reachable ('git -C " + checkout.dir()
                        + " remote -v' shows where it is)? Nothing was changed", e.outputTail());
            }
            throw e;
        }
    }

    private void drain(List<Supervised> running) {
        List<Supervised> ready = running.stream().filter(s -> s.instance().state() == InstanceState.READY).toList();
        if (ready.isEmpty()) {
            finished(2, Outcome.SKIPPED, "no instance is ready, so no prompt can be waiting");
            return;
        }
        started(2, "waiting for the queue of " + names(ready) + ", at most " + drainMax.toSeconds() + " s");
        QueueDrain drain = new QueueDrain(clock, DRAIN_POLL, drainMax, "updated");
        Instant deadline = clock.instant().plus(drainMax);
        List<String> outcomes = new ArrayList<>();
        for (Supervised each : ready) {
            outcomes.add(each.instance().name() + ": " + drain.await(each.client(), deadline, () -> each.instance().workOutsideQueue() > 0, queue -> { }));
        }
        finished(2, Outcome.DONE, String.join("; ", outcomes));
    }

    private void stop(List<Supervised> running, String reason) {
        if (running.isEmpty()) {
            finished(3, Outcome.SKIPPED, "no instance runs");
            return;
        }
        started(3, "stopping " + names(running));
        for (Supervised each : running) {
            join(each.instance().stop(reason));
        }
        finished(3, Outcome.DONE, "stopped " + names(running));
    }

    /** Steps 4 and 5 (or the same two inside the rollback, reported as {@code step}). */
    private void moveTo(int step, String to, String from) {
        String name = checkout.describe(to);
        started(step, "checking out " + name);
        checkout.checkOut(to);
        finished(step, Outcome.DONE, "at " + name + " (" + to.substring(0, 12) + ")");
        int requirementsStep = step == 4 ? 5 : step;
        Optional<String> before = checkout.fileAt(from, Requirements.FILE);
        Optional<String> after = checkout.fileAt(to, Requirements.FILE);
        if (!requirements.needInstall(before, after)) {
            finished(requirementsStep, Outcome.SKIPPED, Requirements.FILE + " unchanged: not installed again");
            return;
        }
        started(requirementsStep, "installing " + Requirements.FILE + " of " + name + " with " + requirements.pythonDescription());
        requirements.install(after);
        finished(requirementsStep, Outcome.DONE, Requirements.FILE + " of " + name + " installed");
    }

    private void restart(int step, List<Supervised> running, String reason) {
        if (running.isEmpty()) {
            finished(step, Outcome.SKIPPED, "no instance was running: not started, so the new version is not verified;"
                    + " 'comfyctl start' runs it");
            return;
        }
        started(step, "starting " + names(running));
        List<String> ready = new ArrayList<>();
        for (Supervised each : running) {
            var outcome = join(each.instance().restart(reason, event -> { }));
            ready.add(each.instance().name() + " ready in " + outcome.timeToReady().toMillis() + " ms (pid " + outcome.pid() + ")");
        }
        finished(step, Outcome.DONE, String.join("; ", ready));
    }

    private UpdateException rollBack(RuntimeException cause, String from, String fromName, String toName, List<Supervised> running) {
        List<String> tail = cause instanceof StartFailedException start ? start.logTail()
                : cause instanceof UpdateException update ? update.outputTail() : List.of();
        String why = cause instanceof StartFailedException start
                ? toName + " did not become ready: start step " + start.step().number() + " (" + start.step().title() + ") failed: "
                + start.getMessage()
                : cause.getMessage();
        finished(current, Outcome.FAILED, why);
        started(7, "the update to " + toName + " failed (" + why + "); going back to " + fromName);
        String back;
        try {
            moveTo(7, from, checkout.head());
            restart(7, running, "rollback to " + fromName + " after a failed update");
            back = "rolled back to " + fromName + (running.isEmpty() ? "" : ", which runs again");
        } catch (UpdateException | StartFailedException e) {
            back = "the rollback to " + fromName + " failed too: " + e.getMessage() + "; fix it by hand, then 'comfyctl start'";
        }
        finished(7, Outcome.DONE, back);
        String message = "update to " + toName + " failed: " + why + "; " + back;
        events.post(EventType.UPDATE_FAILED, Event.DAEMON, message, Map.of("from", fromName, "to", toName, "logTail", tail));
        return new UpdateException(message, tail);
    }

    private static <T> T join(CompletableFuture<T> future) {
        try {
            return future.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException runtime) {
                throw runtime;
            }
            throw e;
        }
    }

    private static String names(List<Supervised> supervised) {
        return String.join(", ", supervised.stream().map(s -> s.instance().name()).toList());
    }

    private UpdateException failed(int step, String what, List<String> tail) {
        finished(step, Outcome.FAILED, what);
        return new UpdateException(what, tail);
    }

    private void started(int step, String message) {
        current = step;
        listener.accept(new Progress(step, TITLES[step - 1], Outcome.RUNNING, message));
    }

    private void finished(int step, Outcome outcome, String message) {
        listener.accept(new Progress(step, TITLES[step - 1], outcome, message));
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("step", step);
        fields.put("title", TITLES[step - 1]);
        fields.put("outcome", outcome.name());
        events.post(EventType.UPDATE, Event.DAEMON, "update step " + step + " (" + TITLES[step - 1] + "): " + message, fields);
    }
}
