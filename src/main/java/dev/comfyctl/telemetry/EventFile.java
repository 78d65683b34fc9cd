package dev.comfyctl.telemetry;

import dev.comfyctl.events.Event;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Optional;

/**
 * Reads the event log, the kept older generation ({@code events.jsonl.1}) first. Never fails on its content:
 * a line that is not a whole event (cut short by a crash mid-write, or damaged) is skipped and counted, and
 * bytes that are not UTF-8 are replaced. A rotation during the read may hide one generation from that read.
 */
public final class EventFile {

    /**
     * @param events  oldest first
     * @param skipped lines that were not events
     */
    public record Read(List<Event> events, int skipped) {
    }

    private EventFile() {
    }

    /** The older generation kept beside {@code file}. */
    public static Path previous(Path file) {
        return file.resolveSibling(file.getFileName() + ".1");
    }

    /**
     * The last {@code limit} events at or after {@code since} of the log in {@code home}; none when there is none.
     *
     * @throws UncheckedIOException when a log file exists but cannot be read
     */
    public static Read read(Path home, Instant since, int limit) {
        if (limit < 0) {
            throw new IllegalArgumentException("limit " + limit + " < 0");
        }
        Path file = home.resolve(EventLog.FILE_NAME);
        Deque<Event> kept = new ArrayDeque<>();
        int skipped = 0;
        for (Path generation : List.of(previous(file), file)) {
            skipped += read(generation, since, limit, kept);
        }
        return new Read(List.copyOf(kept), skipped);
    }

    private static int read(Path path, Instant since, int limit, Deque<Event> kept) {
        int skipped = 0;
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(Files.newInputStream(path), StandardCharsets.UTF_8))) {
            for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                if (line.isBlank()) {
                    continue;
                }
                Optional<Event> event = EventJson.parse(line);
                if (event.isEmpty()) {
                    skipped++;
                } else if (!event.get().at().isBefore(since) && limit > 0) {
                    if (kept.size() == limit) {
                        kept.removeFirst();
                    }
                    kept.addLast(event.get());
                }
            }
        } catch (NoSuchFileException e) {
            return 0;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the event log " + path + ": " + e.getMessage(), e);
        }
        return skipped;
    }
}
