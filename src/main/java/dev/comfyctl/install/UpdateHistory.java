package dev.comfyctl.install;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * {@code update.json} in the state directory: the commit ComfyUI was at before the last update, which is where
 * {@code comfyctl update --rollback} goes. Written atomically, so a crash leaves the old record or the new one.
 */
final class UpdateHistory {
    static final String FILE_NAME = "update.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    record Last(String previous, String current, Instant at) {
    }

    private final Path file;

    UpdateHistory(Path home) {
        this.file = home.resolve(FILE_NAME);
    }

    Optional<Last> last() {
        if (!Files.exists(file)) {
            return Optional.empty();
        }
        try {
            JsonNode json = JSON.readTree(file.toFile());
            return Optional.of(new Last(json.path("previous").asText(), json.path("current").asText(),
                    Instant.parse(json.path("at").asText())));
        } catch (IOException | RuntimeException e) {
            throw new UpdateException(file + " cannot be read (" + e.getMessage() + "), so the version before the last"
                    + " update is unknown; name the version to go back to with --version", List.of());
        }
    }

    void record(String previous, String current, Instant at) {
        try {
            Files.createDirectories(file.getParent());
            Path temporary = file.resolveSibling(FILE_NAME + ".tmp");
            JSON.writeValue(temporary.toFile(), JSON.createObjectNode().put("previous", previous).put("current", current)
                    .put("at", at.toString()));
            Files.move(temporary, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }
}
