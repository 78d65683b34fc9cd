package dev.comfyctl.process;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The few fields of {@code /proc/<pid>/stat} this package needs.
 *
 * <p>The command name (field 2) is skipped by searching for the last {@code ')'}: a command name
 * may itself contain spaces and parentheses.
 */
record ProcStat(long pid, char state, long ppid, long processGroup, long session) {

    /** Zombie ({@code Z}) or dead ({@code X}): the process has exited and only awaits reaping. */
    boolean hasExited() {
        return state == 'Z' || state == 'X';
    }

    /** @return the stat of a live or zombie process; empty when it does not exist (or vanished while reading) */
    static Optional<ProcStat> read(long pid) {
        String text;
        try {
            text = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        } catch (IOException e) {
            return Optional.empty();
        }
        return parse(pid, text);
    }

    static Optional<ProcStat> parse(long pid, String text) {
        int end = text.lastIndexOf(')');
        if (end < 0) {
            return Optional.empty();
        }
        String[] fields = text.substring(end + 1).trim().split(" ");
        if (fields.length < 4 || fields[0].isEmpty()) {
            return Optional.empty();
        }
        try {
            return Optional.of(new ProcStat(pid, fields[0].charAt(0),
                    Long.parseLong(fields[1]), Long.parseLong(fields[2]), Long.parseLong(fields[3])));
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }
}
