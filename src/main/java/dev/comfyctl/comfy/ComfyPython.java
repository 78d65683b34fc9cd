package dev.comfyctl.comfy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The python that runs a ComfyUI install, the one its requirements and its custom nodes' requirements go into:
 * COMFYUI_PYTHON when set, else the first executable of {@code <dir>/venv}, {@code <dir>/.venv} and
 * {@code ~/.venvs/imggen}. The supervisor starts ComfyUI with it and the installers install with it, so they
 * always agree on which one it is.
 *
 * @param comfyDir   the ComfyUI install
 * @param configured COMFYUI_PYTHON, when set
 */
public record ComfyPython(Path comfyDir, Optional<Path> configured) {

    /** The places looked in when COMFYUI_PYTHON is not set, in order. */
    public List<Path> candidates() {
        return List.of(comfyDir.resolve("venv/bin/python"), comfyDir.resolve(".venv/bin/python"),
                Path.of(System.getProperty("user.home"), ".venvs", "imggen", "bin", "python"));
    }

    /** The python, or empty when COMFYUI_PYTHON names no executable or, unset, no candidate is one. */
    public Optional<Path> find() {
        if (configured.isPresent()) {
            return configured.filter(Files::isExecutable);
        }
        return candidates().stream().filter(Files::isExecutable).findFirst();
    }

    /** Why {@link #find()} found none, naming where it looked; the caller adds how to fix it. */
    public String notFound() {
        if (configured.isPresent()) {
            return "COMFYUI_PYTHON is " + configured.get() + " but no executable python is there";
        }
        return "no Python virtual environment for ComfyUI found (looked for "
                + candidates().stream().map(Path::toString).collect(Collectors.joining(", ")) + ")";
    }
}
