package dev.comfyctl.telemetry;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.comfyctl.events.Event;
import dev.comfyctl.events.EventType;

import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/** An event as one JSON object: the line of the event log and, with {@code machine}, the body of a webhook. */
public final class EventJson {
    private static final ObjectMapper JSON = new ObjectMapper();

    private EventJson() {
    }

    /** The event as a JSON object on one line, without the line end. */
    public static String line(Event event) {
        return object(event, Optional.empty());
    }

    /** The event as a JSON object with a {@code machine} member naming the host that saw it. */
    static String withMachine(Event event, String machine) {
        return object(event, Optional.of(machine));
    }

    private static String object(Event event, Optional<String> machine) {
        Map<String, Object> object = new LinkedHashMap<>();
        object.put("at", event.at().toString());
        object.put("type", event.type().id());
        object.put("instance", event.instance());
        machine.ifPresent(name -> object.put("machine", name));
        object.put("message", event.message());
        object.putAll(event.fields());
        try {
            return JSON.writeValueAsString(object);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("an event of plain JSON values failed to serialize: " + event, e);
        }
    }

    /** The event on a line, or empty when the line is not a whole event of a known type (cut short, say). */
    public static Optional<Event> parse(String line) {
        try {
            JsonNode node = JSON.readTree(line);
            if (!(node instanceof ObjectNode object) || !object.path("at").isTextual() || !object.path("type").isTextual()) {
                return Optional.empty();
            }
            Optional<EventType> type = EventType.byId(object.get("type").asText());
            if (type.isEmpty()) {
                return Optional.empty();
            }
            Map<String, Object> fields = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = object.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> member = it.next();
                if (!Event.RESERVED.contains(member.getKey())) {
                    fields.put(member.getKey(), JSON.convertValue(member.getValue(), Object.class));
                }
            }
            return Optional.of(new Event(Instant.parse(object.get("at").asText()), type.get(),
                    object.path("instance").asText(Event.DAEMON), object.path("message").asText(""), fields));
        } catch (JsonProcessingException | DateTimeParseException e) {
            return Optional.empty();
        }
    }
}
