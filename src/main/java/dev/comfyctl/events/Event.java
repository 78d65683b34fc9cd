package dev.comfyctl.events;

import java.time.Instant;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * One lifecycle event. In JSON it is one object: {@code at}, {@code type}, {@code instance}, {@code message},
 * then the fields at the top level, so the fields may not use those names.
 *
 * @param instance the ComfyUI instance it concerns, or {@link #DAEMON} for the daemon and the machine
 * @param fields   JSON values: strings, numbers, booleans, lists and maps of them; anything else is kept as its
 *                 {@code toString()}, so an {@code Instant} or a {@code Path} may be given as is
 */
public record Event(Instant at, EventType type, String instance, String message, Map<String, Object> fields) {
    /** The instance name of events about comfyctl itself or the machine. */
    public static final String DAEMON = "comfyctl";
    /** The names of the event's own members, which fields may not use (webhooks add {@code machine}). */
    public static final Set<String> RESERVED = Set.of("at", "type", "instance", "message", "machine");

    public Event {
        Objects.requireNonNull(at, "at");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(instance, "instance");
        Objects.requireNonNull(message, "message");
        Map<String, Object> copy = new LinkedHashMap<>();
        fields.forEach((name, value) -> {
            if (RESERVED.contains(name)) {
                throw new IllegalArgumentException("field '" + name + "' clashes with the event's own " + RESERVED);
            }
            copy.put(name, jsonValue(value));
        });
        fields = Collections.unmodifiableMap(copy);
    }

    private static Object jsonValue(Object value) {
        if (value == null || value instanceof String || value instanceof Number || value instanceof Boolean) {
            return value;
        }
        if (value instanceof List<?> list) {
            return list.stream().map(Event::jsonValue).toList();
        }
        if (value instanceof Map<?, ?> map) {
            Map<String, Object> copy = new LinkedHashMap<>();
            map.forEach((k, v) -> copy.put(String.valueOf(k), jsonValue(v)));
            return Collections.unmodifiableMap(copy);
        }
        return value.toString();
    }
}
