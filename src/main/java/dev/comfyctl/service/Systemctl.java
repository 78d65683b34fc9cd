package dev.comfyctl.service;

import dev.comfyctl.process.CommandRunner;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Runs {@code systemctl} found on a given PATH, with a deadline. systemctl can block for a long time
 * (waiting on D-Bus or polkit), so every call is bounded and a late one is killed.
 */
final class Systemctl {

    /** @param exitCode the exit status, or -1 when it did not finish or could not start */
    record Result(int exitCode, String output) {
        boolean succeeded() {
            return exitCode == 0;
        }

        /** The output on one line, for messages. */
        String summary() {
            String oneLine = output.strip().replaceAll("\\s*\\R\\s*", " | ");
            return oneLine.isEmpty() ? "no output" : "'" + oneLine + "'";
        }
    }

    private final Path executable;
    private final Map<String, String> environment;
    private final Duration timeout;

    private Systemctl(Path executable, Map<String, String> environment, Duration timeout) {
        this.executable = executable;
        this.environment = environment;
        this.timeout = timeout;
    }

    /**
     * systemctl from the environment's PATH, if there. Empty PATH entries (the working directory to a
     * shell) are skipped on purpose.
     */
    static Optional<Systemctl> find(Map<String, String> environment, Duration timeout) {
        return CommandRunner.findOnPath("systemctl", environment.get("PATH"))
                .map(executable -> new Systemctl(executable, Map.copyOf(environment), timeout));
    }

    Path executable() {
        return executable;
    }

    /** Runs {@code systemctl args...}; never throws for a failing command, the result tells. */
    Result run(String... args) {
        List<String> command = new ArrayList<>();
        command.add(executable.toString());
        command.addAll(List.of(args));
        CommandRunner.Outcome outcome = CommandRunner.run(command, environment, timeout);
        if (outcome instanceof CommandRunner.Exited exited) {
            return new Result(exited.exitCode(), exited.output());
        }
        if (outcome instanceof CommandRunner.OutputHeldOpen held) {
            return new Result(held.exitCode(), "");
        }
        if (outcome instanceof CommandRunner.TimedOut timedOut) {
            return new Result(-1, "systemctl " + String.join(" ", args) + " " + timedOut.description());
        }
        return new Result(-1, "could not run " + executable + ": " + ((CommandRunner.Failed) outcome).reason());
    }
}
