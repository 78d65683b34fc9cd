package dev.comfyctl.supervisor;

import dev.comfyctl.comfy.ComfyClient;

import java.nio.file.Path;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;

/**
 * What makes one instance different from another on the same machine.
 *
 * @param name shown in status and logs, such as {@code comfyui}
 * @param port where this instance's ComfyUI listens
 * @param gpuIndex the GPU it runs on, empty for the first one found (or the CPU)
 * @param logsDir where its session logs go
 * @param pidFile holds ComfyUI's pid while it runs, for tools that look for it
 * @param extraEnvironment added to ComfyUI's environment after comfyctl's own variables
 * @param client talks to this instance's ComfyUI
 * @param siblingPorts ports of the other instances of the same install: ComfyUI processes serving them are
 *     supervised by a sibling, not strays this instance may stop before it starts
 */
public record InstanceSpec(String name, int port, OptionalInt gpuIndex, Path logsDir, Path pidFile,
                           Map<String, String> extraEnvironment, ComfyClient client, Set<Integer> siblingPorts) {
    public InstanceSpec {
        extraEnvironment = Map.copyOf(extraEnvironment);
        siblingPorts = Set.copyOf(siblingPorts);
    }

    /** An instance with no siblings. */
    public InstanceSpec(String name, int port, OptionalInt gpuIndex, Path logsDir, Path pidFile,
                        Map<String, String> extraEnvironment, ComfyClient client) {
        this(name, port, gpuIndex, logsDir, pidFile, extraEnvironment, client, Set.of());
    }

    /**
     * The value of {@code __COMFY_CLI_SESSION__}: a path prefix, not a directory. ComfyUI-Manager's restart
     * creates {@code <prefix>.reboot} and exits with status 0, asking its launcher to start it again.
     */
    public Path sessionPrefix() {
        return pidFile.resolveSibling("session").resolve(name);
    }

    public Path rebootMarker() {
        return sessionPrefix().resolveSibling(name + ".reboot");
    }
}
