package dev.comfyctl.install;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Small file and output helpers the installers share. */
final class InstallFiles {
    /** How many lines of a failed command's output an error shows. */
    private static final int TAIL_LINES = 20;

    private InstallFiles() {
    }

    /** The last lines of a command's output, for an error to show. */
    static List<String> tail(String output) {
        List<String> lines = output.lines().toList();
        return lines.subList(Math.max(0, lines.size() - TAIL_LINES), lines.size());
    }

    /** False too when the directory cannot be listed: then it is not safely empty to clone into. */
    static boolean isEmptyDirectory(Path dir) {
        try (var entries = Files.list(dir)) {
            return entries.findAny().isEmpty();
        } catch (IOException e) {
            return false;
        }
    }

    /** A stamp's content, stripped; empty when it is absent or unreadable, which means "nothing recorded". */
    static String readQuietly(Path file) {
        try {
            return Files.readString(file).strip();
        } catch (IOException e) {
            return "";
        }
    }

    /** For files whose removal only tidies up after a failure the caller already reports. */
    static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            // The caller's own error says what failed; a file left behind is only untidy.
        }
    }
}
