package dev.comfyctl.process;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * A snapshot of another process, for reporting and for choosing what to stop.
 *
 * @param pid         process id
 * @param arguments   argv as the process sees it (from {@code /proc/<pid>/cmdline}); empty for kernel threads
 * @param commandLine the arguments joined by spaces, for display
 * @param started     start time, when the OS tells
 * @param user        owning user name, when the OS tells
 */
public record ProcessInfo(long pid, List<String> arguments, String commandLine, Optional<Instant> started, Optional<String> user) {

    public ProcessInfo {
        arguments = List.copyOf(arguments);
    }

    /** @return the process as it is now; empty if it does not exist or vanished while being read */
    static Optional<ProcessInfo> of(long pid) {
        Optional<ProcessHandle> handle = ProcessHandle.of(pid);
        Optional<List<String>> arguments = arguments(pid);
        if (handle.isEmpty() || arguments.isEmpty()) {
            return Optional.empty();
        }
        ProcessHandle.Info info = handle.get().info();
        return Optional.of(new ProcessInfo(pid, arguments.get(), String.join(" ", arguments.get()),
                info.startInstant(), info.user()));
    }

    /** @return argv from {@code /proc/<pid>/cmdline}; empty if the process is gone or unreadable */
    static Optional<List<String>> arguments(long pid) {
        byte[] raw;
        try {
            raw = Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline"));
        } catch (IOException e) {
            return Optional.empty();
        }
        String text = new String(raw, StandardCharsets.UTF_8);
        if (text.endsWith("\0")) {
            text = text.substring(0, text.length() - 1);
        }
        return Optional.of(text.isEmpty() ? List.of() : Arrays.asList(text.split("\0", -1)));
    }
}
