package dev.comfyctl.supervisor;

import dev.comfyctl.process.ProcessInfo;
import dev.comfyctl.process.ProcessTree;
import dev.comfyctl.process.StopResult;
import dev.comfyctl.process.StrayProcesses;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** ComfyUI processes of an install that nobody supervises: found by their command line, stopped with their tree. */
public final class Strays {

    /** One stray and what stopping it took. */
    public record Stopped(ProcessInfo process, StopResult result) {
        public String describe() {
            return "pid " + process.pid() + (result.forced() ? " killed after the grace period, " : " stopped, ")
                    + result.took().toMillis() + " ms" + (result.survivors().isEmpty() ? "" : "; SURVIVORS " + result.survivors());
        }
    }

    private Strays() {
    }

    public static List<ProcessInfo> find(Path comfyDir) {
        return StrayProcesses.find(comfyDir);
    }

    /** SIGTERM to each stray's whole tree, SIGKILL after {@code grace}. */
    public static List<Stopped> stopAll(Path comfyDir, Duration grace) {
        return stopAll(comfyDir, grace, Set.of());
    }

    /** Like {@link #stopAll(Path, Duration)}, sparing the processes that serve one of {@code sparedPorts}. */
    static List<Stopped> stopAll(Path comfyDir, Duration grace, Set<Integer> sparedPorts) {
        return find(comfyDir).stream()
                .filter(stray -> port(stray).filter(sparedPorts::contains).isEmpty())
                .map(stray -> new Stopped(stray, ProcessTree.terminate(stray.pid(), grace)))
                .toList();
    }

    /** The value of ComfyUI's {@code --port} argument, if the process was given one. */
    static Optional<Integer> port(ProcessInfo process) {
        List<String> arguments = process.arguments();
        for (int i = 0; i < arguments.size(); i++) {
            String argument = arguments.get(i);
            String value = argument.startsWith("--port=") ? argument.substring("--port=".length())
                    : argument.equals("--port") && i + 1 < arguments.size() ? arguments.get(i + 1) : null;
            if (value != null) {
                try {
                    return Optional.of(Integer.parseInt(value));
                } catch (NumberFormatException e) {
                    return Optional.empty();
                }
            }
        }
        return Optional.empty();
    }
}
