package dev.comfyctl.install;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/** ComfyUI's own python, the one its custom nodes' requirements must go into; the same places the supervisor looks. */
public final class ComfyPython {
    private ComfyPython() {
    }

    /** COMFYUI_PYTHON when set, else the first of {@code <dir>/venv}, {@code <dir>/.venv}, {@code ~/.venvs/imggen}. */
    public static Optional<Path> find(Path comfyDir, Optional<Path> configured) {
        if (configured.isPresent()) {
            return configured;
        }
        return List.of(comfyDir.resolve("venv/bin/python"), comfyDir.resolve(".venv/bin/python"),
                        Path.of(System.getProperty("user.home"), ".venvs", "imggen", "bin", "python")).stream()
                .filter(Files::isExecutable).findFirst();
    }
}
