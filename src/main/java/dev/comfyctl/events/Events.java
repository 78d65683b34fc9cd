package dev.comfyctl.events;

import java.util.Map;

/**
 * Where lifecycle events go: the durable event log, and from it the webhooks.
 *
 * <p>Two ways in. {@link #record} is for an event that announces an action (a forced kill, an idle stop, a
 * scheduled restart, a hang): record it, then act, so that a crash in between still leaves the reason on disk.
 * It returns once the event is written and forced to disk, which takes a few milliseconds; a disk stuck for
 * longer than a bounded wait is logged and the caller goes on. {@link #post} never waits and is the one for
 * event loops and for events that report what already happened. Both keep the order of the calls.
 *
 * <p>Implementations never throw from either method: an event that cannot be written is logged.
 */
public interface Events {
    /** Drops every event; for instances that nobody watches, such as in tests. */
    Events NONE = new Events() {
        @Override
        public void record(EventType type, String instance, String message, Map<String, Object> fields) {
        }

        @Override
        public void post(EventType type, String instance, String message, Map<String, Object> fields) {
        }
    };

    /** Returns once the event is on disk (or a bounded wait has run out); not for an event-loop thread. */
    void record(EventType type, String instance, String message, Map<String, Object> fields);

    /** Queues the event and returns at once; it reaches the disk moments later, after every earlier one. */
    void post(EventType type, String instance, String message, Map<String, Object> fields);
}
