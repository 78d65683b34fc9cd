package dev.comfyctl.testing;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.stream.Stream;

/** Finds the python 3 that runs the fakes: /usr/bin/python3 when present, else python3 on PATH. */
public final class SystemPython {

    private SystemPython() {
    }

    public static Path path() {
        Path preferred = Path.of("/usr/bin/python3");
        if (Files.isExecutable(preferred)) {
            return preferred;
        }
        return onPath().orElseThrow(() -> new IllegalStateException("no python3 at /usr/bin/python3 or on PATH"));
    }

    private static Optional<Path> onPath() {
        String path = Optional.ofNullable(System.getenv("PATH")).orElse("");
        return Stream.of(path.split(File.pathSeparator))
                .filter(entry -> !entry.isEmpty())
                .map(entry -> Path.of(entry, "python3"))
                .filter(Files::isExecutable)
                .findFirst();
    }
}
