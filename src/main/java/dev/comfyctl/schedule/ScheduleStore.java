package dev.comfyctl.schedule;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.Optional;

/**
 * Whether scheduled restarts are on and when the next one is due, in {@code <home>/schedule.json}, so that
 * both survive a daemon restart. Written atomically; an unreadable file counts as absent (and is said so).
 */
final class ScheduleStore {
    private static final Logger log = LoggerFactory.getLogger(ScheduleStore.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    record State(boolean enabled, Instant nextRestart) {
    }

    private final Path file;

    ScheduleStore(Path home) {
        this.file = home.resolve("schedule.json");
    }

    Optional<State> load() {
        try {
            JsonNode node = JSON.readTree(Files.readString(file));
            return Optional.of(new State(node.path("enabled").asBoolean(true), Instant.parse(node.path("nextRestart").asText())));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException | RuntimeException e) {
            log.warn("{} is unreadable ({}); starting from the configuration", file, e.toString());
            return Optional.empty();
        }
    }

    void save(State state) {
        ObjectNode node = JSON.createObjectNode().put("enabled", state.enabled()).put("nextRestart", state.nextRestart().toString());
        Path temporary = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(temporary, JSON.writeValueAsString(node));
            Files.move(temporary, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            log.warn("cannot save the restart schedule to {}: {}", file, e.toString());
        }
    }
}
