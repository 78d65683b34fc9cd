package dev.comfyctl.events;

import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;

/** Every kind of lifecycle event; {@link #id()} is the name in the event log, in webhooks and in settings. */
public enum EventType {
    DAEMON_START,
    DAEMON_STOP,
    /** A start of ComfyUI begins. */
    COMFYUI_START,
    /** ComfyUI answers; carries the time it took. */
    COMFYUI_READY,
    COMFYUI_STOP,
    IDLE_STOP,
    WAKE,
    SCHEDULED_RESTART,
    DRAIN_WAIT,
    CRASH,
    HANG,
    FORCED_KILL,
    START_FAILED,
    /** Memory, disk and VRAM figures of the machine. */
    SYSTEM_STATUS,
    /** A numbered step of the daemon's startup ended: number, name, phase, state, duration, error. */
    STARTUP_STEP,
    /** comfyctl update: one step of moving ComfyUI to another version (and back) has ended. */
    UPDATE,
    /** comfyctl update: the new version failed and ComfyUI went back to the one before; carries the log tail. */
    UPDATE_FAILED,
    /** A custom node or model installed or failed before ComfyUI starts, and the summary (component manifest). */
    COMPONENT_INSTALL;

    /** The lower-case name, such as {@code comfyui_ready}. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Optional<EventType> byId(String id) {
        return Arrays.stream(values()).filter(type -> type.id().equals(id.strip().toLowerCase(Locale.ROOT))).findFirst();
    }

    /** All ids, comma-separated, for messages that list the valid ones. */
    public static String ids() {
        return Arrays.stream(values()).map(EventType::id).collect(Collectors.joining(", "));
    }
}
