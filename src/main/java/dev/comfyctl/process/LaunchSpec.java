package dev.comfyctl.process;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What to start: an immutable description checked on construction.
 *
 * @param command          program and arguments, e.g. {@code [/venv/bin/python, main.py, --port, 8189]}; a program
 *                         without a slash is looked up on the {@code PATH} the child will see
 * @param workingDirectory directory the child starts in
 * @param environment      variables added to (or replacing in) the environment inherited from this JVM
 * @param logFile          file that stdout and stderr are both appended to; missing parent directories are created
 */
public record LaunchSpec(List<String> command, Path workingDirectory, Map<String, String> environment, Path logFile) {

    /**
     * @throws IllegalArgumentException if the command is empty or its program name is blank
     * @throws NullPointerException     if any argument, list element, key or value is null
     */
    public LaunchSpec {
        command = List.copyOf(Objects.requireNonNull(command, "command"));
        environment = Map.copyOf(Objects.requireNonNull(environment, "environment"));
        Objects.requireNonNull(workingDirectory, "workingDirectory");
        Objects.requireNonNull(logFile, "logFile");
        if (command.isEmpty()) {
            throw new IllegalArgumentException("command is empty");
        }
        if (command.get(0).isBlank()) {
            throw new IllegalArgumentException("command program is blank: " + command);
        }
    }
}
