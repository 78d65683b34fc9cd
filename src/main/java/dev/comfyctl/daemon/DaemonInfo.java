package dev.comfyctl.daemon;

import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;

/**
 * How to reach the daemon serving one state directory: written to {@code <home>/daemon.json} once it
 * listens, removed when it exits. A file left behind by a killed daemon names a dead pid, and an unreadable
 * one is half-written: both are ignored.
 *
 * @param background true when {@code comfyctl start} launched it, so {@code comfyctl stop} ends it too
 */
public record DaemonInfo(long pid, String host, int port, boolean background, String startedAt, String version) {
    private static final ObjectMapper JSON = new ObjectMapper();

    static Path file(Path home) {
        return home.resolve("daemon.json");
    }

    public String baseUrl() {
        String reachable = host.equals("0.0.0.0") ? "127.0.0.1" : host.equals("::") ? "[::1]" : host;
        return "http://" + (reachable.contains(":") && !reachable.startsWith("[") ? "[" + reachable + "]" : reachable)
                + ":" + port;
    }

    /** The live daemon of this state directory, if one runs. */
    public static Optional<DaemonInfo> read(Path home) {
        try {
            DaemonInfo info = JSON.readValue(Files.readString(file(home)), DaemonInfo.class);
            return ProcessHandle.of(info.pid()).filter(ProcessHandle::isAlive).map(p -> info);
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    void write(Path home) throws IOException {
        Path temporary = home.resolve("daemon.json.tmp");
        Files.writeString(temporary, JSON.writeValueAsString(this));
        Files.move(temporary, file(home), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    static void delete(Path home) throws IOException {
        Files.deleteIfExists(file(home));
    }
}
